from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from experiments.models import ApiKey


class Command(BaseCommand):
    help = "Revoke an API key, given the key itself or its prefix (as shown in the admin)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("key_or_prefix")

    def handle(self, *args, key_or_prefix: str, **options) -> None:
        key = ApiKey.authenticate(key_or_prefix)
        keys = [key] if key else list(ApiKey.objects.active().filter(key_prefix=key_or_prefix[:10]))
        if not keys:
            raise CommandError(f"no active API key matches {key_or_prefix!r}")
        if len(keys) > 1:
            raise CommandError(f"{len(keys)} keys share that prefix; pass the whole key")
        ApiKey.objects.filter(pk=keys[0].pk).update(revoked_at=timezone.now())
        self.stdout.write(f"Revoked {keys[0].key_prefix}… of {keys[0].user}.")

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from experiments.models import ApiKey


class Command(BaseCommand):
    help = "Create an API key for USERNAME and print it (the key itself is the last line)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("username")
        parser.add_argument("--name", default="", help="A label for the key, e.g. the machine it is for.")

    def handle(self, *args, username: str, name: str, **options) -> None:
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"no user named {username!r}; create one with `manage.py createsuperuser`")
        key, raw = ApiKey.issue(user, name=name)
        self.stderr.write(
            f"Created API key {key.key_prefix}… for {username}. It is shown once; store it now."
        )
        self.stdout.write(raw)

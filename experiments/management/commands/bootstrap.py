"""First-start setup for `make run`: an admin user and an API key, printed once."""

import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from experiments.models import ApiKey


class Command(BaseCommand):
    help = "Ensure an admin user and an API key exist; print them when they are created."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--username", default="admin")

    def handle(self, *args, username: str, **options) -> None:
        User = get_user_model()
        user = User.objects.filter(username=username).first()
        password = None
        if user is None:
            if User.objects.filter(is_superuser=True).exists():
                self.stdout.write("An admin user already exists; not creating another.")
                return
            password = secrets.token_urlsafe(12)
            user = User.objects.create_superuser(username=username, email="", password=password)
        key = None
        if not ApiKey.objects.active().filter(user=user).exists():
            _, key = ApiKey.issue(user, name="created by make run")
        if password is None and key is None:
            self.stdout.write(f"Admin user {username!r} and an API key exist (see README to add more).")
            return
        lines = ["", "=" * 72]
        if password:
            lines += [f"  Dashboard login:   {username} / {password}"]
        if key:
            lines += [
                f"  API key:           {key}",
                f"  Log a run:         export TRACKER_SERVER={settings.TRACKER_PUBLIC_URL}",
                f"                     export TRACKER_API_KEY={key}",
                "                     .venv/bin/python examples/train_digits.py",
            ]
        lines += ["  Shown once; a change of password: manage.py changepassword " + username, "=" * 72, ""]
        self.stdout.write("\n".join(lines))

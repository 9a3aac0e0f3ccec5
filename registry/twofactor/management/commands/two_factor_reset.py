"""`manage.py two_factor_reset <username>`: for someone who has lost both their authenticator app and
their recovery codes. Check who they are first, by a channel other than the account itself
(docs/security.md)."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from registry.twofactor.selectors import two_factor_required
from registry.twofactor.services import two_factor_disable


class Command(BaseCommand):
    help = "Turn off two-factor authentication for one account (lost authenticator and recovery codes)."

    def add_arguments(self, parser):
        parser.add_argument("username")

    def handle(self, *args, username, **options):
        user_model = get_user_model()
        try:
            user = user_model.objects.get(**{user_model.USERNAME_FIELD: username})
        except user_model.DoesNotExist as missing:
            raise CommandError(f"No account named {username!r}.") from missing
        removed = two_factor_disable(user=user)
        if not removed:
            self.stdout.write(f"{username} had no two-factor authentication; nothing changed.")
            return
        then = (
            "They will be asked to set it up again at their next login."
            if two_factor_required(user)
            else "They can log in with their password alone, and set it up again from /accounts/two-factor/."
        )
        self.stdout.write(self.style.SUCCESS(f"Two-factor authentication is off for {username}. {then}"))

"""`manage.py create_account`: create a local user (admins, scripts and test harnesses)."""

from __future__ import annotations

import secrets

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ourvoice.accounts.services import account_update_profile, user_create
from ourvoice.core.errors import ApplicationError


class Command(BaseCommand):
    help = "Create a local user and its account; prints the password when one is generated."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--email", required=True)
        parser.add_argument("--password", help="Default: a random password, printed.")
        parser.add_argument("--admin", action="store_true", help="Staff and superuser.")
        parser.add_argument("--locked", action="store_true", help="Follows need approval.")
        parser.add_argument("--display-name", default="")

    def handle(self, *args: object, **options: object) -> None:
        password = str(options["password"] or secrets.token_urlsafe(12))
        try:
            user = user_create(
                username=str(options["username"]),
                email=str(options["email"]),
                password=password,
                is_admin=bool(options["admin"]),
                display_name=str(options["display_name"]),
                allow_reserved=bool(options["admin"]),
            )
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        if options["locked"]:
            account_update_profile(account=user.account, locked=True)
        self.stdout.write(f"created {user.username} (account {user.account.id})")
        if not options["password"]:
            self.stdout.write(f"password: {password}")

"""`manage.py quickstart`: migrate, seed an admin, print its login and serve on localhost:8000."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

from ourvoice.accounts.models import User
from ourvoice.accounts.services import user_create


class Command(BaseCommand):
    help = "Start a development instance on embedded defaults (migrate, seed admin, serve)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--no-serve", action="store_true", help="Only migrate and seed.")

    def handle(self, *args: object, **options: object) -> None:
        call_command("migrate", interactive=False, verbosity=1)
        password = secrets.token_urlsafe(12)
        user = User.objects.filter(username__iexact="admin").first()
        if user is None:
            user = user_create(
                username="admin",
                email="admin@localhost.localdomain",
                password=password,
                is_admin=True,
                display_name="Admin",
                allow_reserved=True,
            )
        else:
            user.set_password(password)
            user.is_active = True
            user.save(update_fields=["password", "is_active"])
        base = settings.OURVOICE_BASE_URL
        self.stdout.write(
            self.style.SUCCESS(
                f"\nOUR Voice is ready at {base}/ — admin at {base}/admin/\n"
                f"  login:    {user.username}\n  password: {password}\n"
            )
        )
        if options["no_serve"]:
            return
        import uvicorn

        uvicorn.run(
            "ourvoice.asgi:application",
            host=str(options["host"]),
            port=int(options["port"]),
            log_level="info",
        )

"""``manage.py pseudonymise_client <username>``: GDPR pseudonymisation of a former client."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from apps.compliance.records import client_pseudonymise
from apps.core.actors import system_actor
from apps.core.context import RequestContext, bind, new_correlation_id
from apps.core.errors import ApplicationError


class Command(BaseCommand):
    help = (
        "Replace a former client's name, e-mail and user name with a stable pseudonym (former-client-<id>) and "
        "deactivate them; the ledger, orders and audit chains are untouched. Refused for staff, and while the "
        "client has a non-zero balance or an open order."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("username", help="The client's current user name.")
        parser.add_argument(
            "--actor", default=None, help="User name of the staff member requesting it (recorded; default: system)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        actor = system_actor()
        if options["actor"]:
            found = get_user_model().objects.filter(username=options["actor"], is_staff=True).first()
            if found is None:
                raise CommandError(f"--actor: no staff user named {options['actor']!r}")
            actor = found
        with bind(RequestContext(correlation_id=new_correlation_id(), actor_id=actor.pk)):
            try:
                result = client_pseudonymise(actor=actor, username=options["username"])
            except ApplicationError as error:
                raise CommandError(f"refused ({error.code}): {error.detail}; nothing was changed") from error
        if result.already_done:
            self.stdout.write(f"{options['username']!r} was already pseudonymised; nothing changed.")
            return
        self.stdout.write(
            self.style.SUCCESS(
                f"user {result.user_id} pseudonymised as {result.pseudonym} and deactivated; "
                f"recorded in the audit log (entry {result.log_entry_id}) by {actor.get_username()}"
            )
        )

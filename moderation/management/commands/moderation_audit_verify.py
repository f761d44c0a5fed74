"""Verify the hash chains of the moderation audit log; exit 1 if any chain is broken.

    manage.py moderation_audit_verify               # every chain
    manage.py moderation_audit_verify --case 123    # one case's chain (repeatable)
    manage.py moderation_audit_verify --case global # the global chain (tiers, bulk voids)

Prints each problem (chain, sequence number, what is wrong) and the head hash of the global
chain, which is what the transparency feed publishes.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from moderation.audit import audit_chain_verify, audit_head
from moderation.management.progress import Progress
from moderation.models import AuditEvent


class Command(BaseCommand):
    help = "Recompute every moderation audit hash chain and report broken links."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--case",
            action="append",
            default=[],
            help='A case id, or "global"; may be repeated (default: every chain).',
        )

    def handle(self, *args: Any, case: list[str], **options: Any) -> None:
        chains: list[int | None]
        if case:
            try:
                chains = [None if c == "global" else int(c) for c in case]
            except ValueError as exc:
                raise CommandError('--case takes a case id or "global".') from exc
        else:
            chains = list(
                AuditEvent.objects.values_list("case_id", flat=True).distinct().order_by()
            )
        progress = Progress(self.stderr, len(chains), "verifying")
        problems = []
        for chain in chains:
            problems.extend(audit_chain_verify(case_ids=[chain]))
            progress.step()
        progress.close()
        for p in problems:
            where = f"case {p.case_id}" if p.case_id is not None else "global"
            self.stdout.write(f"{where} seq {p.seq}: {p.problem}")
        self.stdout.write(f"global head {audit_head(case=None)}")
        if problems:
            raise CommandError(
                f"{len(problems)} problem(s) in {len({p.case_id for p in problems})} chain(s).",
                returncode=1,
            )
        self.stdout.write(f"{len(chains)} chain(s) intact.")

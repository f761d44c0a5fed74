"""Rebuild the Redis running sums of every undecided case from PostgreSQL (or check them).

    manage.py moderation_rebuild_tallies            # rebuild open, pending and held cases
    manage.py moderation_rebuild_tallies --check    # compare only; exit 1 on any divergence
    manage.py moderation_rebuild_tallies --from-scratch   # delete every tally key first

Each case is rebuilt in its own short transaction holding the case's row lock (as a vote does),
so a vote cast meanwhile never leaves the sums too low. Decisions never depend on these sums
(the rule reads PostgreSQL); a missing key is rebuilt on the next vote anyway.
"""

from __future__ import annotations

import math
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from moderation import tally
from moderation.management.progress import Progress
from moderation.models import Case

#: Float sums in Redis accumulate rounding: differences below this are not divergences.
TOLERANCE = 1e-6


def _same(a: tally.Sums, b: tally.Sums) -> bool:
    da, db = a.as_dict(), b.as_dict()
    return all(math.isclose(da[k], db[k], rel_tol=TOLERANCE, abs_tol=TOLERANCE) for k in da)


class Command(BaseCommand):
    help = "Rebuild (or --check) the Redis vote sums of every open, pending and held case."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--check",
            action="store_true",
            help="Compare the cached sums with PostgreSQL; change nothing; exit 1 on divergence.",
        )
        parser.add_argument(
            "--from-scratch",
            action="store_true",
            help="Delete every tally key (of any case) before rebuilding.",
        )

    def handle(self, *args: Any, check: bool, from_scratch: bool, **options: Any) -> None:
        if check and from_scratch:
            raise CommandError("--check and --from-scratch exclude each other.")
        if from_scratch:
            self.stdout.write(f"Deleted {tally.tally_forget_all()} tally key(s).")
        ids = list(
            Case.objects.filter(state__in=Case.VOTING_STATES)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        progress = Progress(self.stderr, len(ids), "checking" if check else "rebuilding")
        counts = {"rebuilt": 0, "same": 0, "missing": 0, "diverged": 0, "skipped": 0}
        diverged: list[str] = []
        for pk in ids:
            with transaction.atomic():
                case = (
                    Case.objects.select_for_update()
                    .filter(pk=pk, state__in=Case.VOTING_STATES)
                    .first()
                )
                if case is None:  # decided since the list was read: nothing to cache
                    counts["skipped"] += 1
                elif check:
                    cached, truth = tally.tally_read(case), tally.sums_from_db(case)
                    if cached is None:
                        counts["missing"] += 1
                    elif _same(cached, truth):
                        counts["same"] += 1
                    else:
                        counts["diverged"] += 1
                        diverged.append(
                            f"case {case.pk}: redis {cached.as_dict()} != db {truth.as_dict()}"
                        )
                else:
                    tally.tally_rebuild(case)
                    counts["rebuilt"] += 1
            progress.step()
        progress.close()
        for line in diverged:
            self.stdout.write(line)
        if check:
            self.stdout.write(
                f"{len(ids)} undecided case(s): {counts['same']} match, "
                f"{counts['missing']} not cached, {counts['diverged']} diverge, "
                f"{counts['skipped']} decided meanwhile."
            )
            if counts["diverged"]:
                raise CommandError(
                    f"{counts['diverged']} tally(ies) diverge from PostgreSQL; "
                    "run without --check to rebuild them.",
                    returncode=1,
                )
            return
        self.stdout.write(
            f"Rebuilt {counts['rebuilt']} tally(ies) from PostgreSQL "
            f"({counts['skipped']} case(s) decided meanwhile)."
        )

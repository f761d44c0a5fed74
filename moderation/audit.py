"""The append-only, hash-chained moderation audit log (moderation.md §3.5).

Every case has its own chain; events about no single case (domain tiers, bulk voids) form the
global chain. An event's hash is SHA-256 over the previous hash and the canonical JSON of the
event (case id, sequence number, kind, actor, payload, rule version and time), so changing,
removing or reordering any row breaks every later hash of its chain. Appending takes a lock on
the chain (the case row, or a transaction-level advisory lock for the global chain), so
concurrent writers never fork a chain.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone

from moderation.models import AuditEvent, Case

#: prev_hash of the first event of a chain.
GENESIS = "0" * 64
#: Advisory-lock key of the global chain (PostgreSQL).
_GLOBAL_LOCK_KEY = 0x0F_A0D1_7000


def _canonical(event: AuditEvent) -> bytes:
    document = {
        "case": event.case_id,
        "seq": event.seq,
        "kind": event.kind,
        "actor": event.actor,
        "payload": event.payload,
        "rule_version": event.rule_version,
        "created_at": event.created_at.isoformat(),
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":"), default=str).encode()


def event_hash(event: AuditEvent) -> str:
    """SHA-256(prev_hash ‖ canonical event) as hex."""
    return hashlib.sha256(event.prev_hash.encode() + _canonical(event)).hexdigest()


def _lock_chain(case: Case | None) -> None:
    # A case's chain is guarded by the case row lock, which every caller holds already (the
    # services lock the case before changing it); the global chain takes an advisory lock.
    if case is None and connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_GLOBAL_LOCK_KEY])


def audit_event_next(
    *,
    case: Case | None,
    head: tuple[int, str] | None,
    kind: str,
    actor: str,
    payload: dict[str, Any] | None = None,
    rule_version: str = "",
) -> AuditEvent:
    """The (unsaved, hashed) event that follows `head` = (seq, hash) of the chain's last event
    (None for an empty chain). The caller holds the chain's lock and saves it in the same
    transaction; `audit_append` is the usual way, the vote path inserts it with its vote."""
    seq, prev_hash = (head[0] + 1, head[1]) if head else (1, GENESIS)
    event = AuditEvent(
        case=case,
        seq=seq,
        kind=kind,
        actor=actor,
        payload=json.loads(json.dumps(payload or {}, default=str)),
        rule_version=rule_version,
        created_at=timezone.now(),
        prev_hash=prev_hash,
    )
    event.hash = event_hash(event)
    return event


def audit_append(
    *,
    case: Case | None,
    kind: str,
    actor: str,
    payload: dict[str, Any] | None = None,
    rule_version: str = "",
) -> AuditEvent:
    """Append one event to the case's chain (or the global chain when `case` is None).

    Must run inside the transaction that makes the change it records, with the case row
    locked (`select_for_update`) when `case` is given.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("audit_append must run inside the transaction it records")
    _lock_chain(case)
    chain = AuditEvent.objects.filter(case=case) if case else AuditEvent.objects.filter(case=None)
    head = chain.order_by("-seq").values_list("seq", "hash").first()
    event = audit_event_next(
        case=case, head=head, kind=kind, actor=actor, payload=payload, rule_version=rule_version
    )
    event.save(force_insert=True)
    return event


@dataclass(frozen=True)
class ChainProblem:
    case_id: int | None
    seq: int
    problem: str


def audit_chain_verify(*, case_ids: list[int | None] | None = None) -> list[ChainProblem]:
    """Recompute every chain (or the listed ones; None in the list is the global chain).

    Returns the problems found (empty when every chain is intact): a hash that does not match
    its event, a `prev_hash` that does not match the previous event, or a gap in `seq`.
    """
    if case_ids is None:
        chains: list[int | None] = list(
            AuditEvent.objects.values_list("case_id", flat=True).distinct().order_by()
        )
    else:
        chains = list(case_ids)
    problems: list[ChainProblem] = []
    for case_id in chains:
        previous = GENESIS
        expected_seq = 1
        qs = AuditEvent.objects.filter(case_id=case_id).order_by("seq")
        for event in qs.iterator(chunk_size=1000):
            if event.seq != expected_seq:
                problems.append(ChainProblem(case_id, event.seq, f"expected seq {expected_seq}"))
            if event.prev_hash != previous:
                problems.append(ChainProblem(case_id, event.seq, "prev_hash does not match"))
            if event_hash(event) != event.hash:
                problems.append(ChainProblem(case_id, event.seq, "hash does not match the event"))
            previous = event.hash
            expected_seq = event.seq + 1
    return problems


def audit_head(*, case: Case | None) -> str:
    """The latest hash of a chain (GENESIS when empty): what the transparency page publishes."""
    qs = AuditEvent.objects.filter(case=case) if case else AuditEvent.objects.filter(case=None)
    top = qs.aggregate(top=Max("seq"))["top"]
    if top is None:
        return GENESIS
    return qs.filter(seq=top).values_list("hash", flat=True).get()

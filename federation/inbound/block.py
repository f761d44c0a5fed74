"""Block: a remote actor blocks a local account (federation.md §4, "Block / Undo{Block}").

Follows in both directions end; the remote actor can no longer interact with the account.
"""

from __future__ import annotations

from typing import Any

from federation.inbound import common
from federation.inbound.errors import Ignore
from federation.jsonld import first_id
from ourvoice.accounts.models import Account
from ourvoice.accounts.services import block_create
from ourvoice.core.errors import ApplicationError


def handle(*, activity: dict[str, Any], actor: Account, activity_id: str) -> None:
    """Record the block of the local account named by `object`."""
    target = common.local_account_by_uri(first_id(activity.get("object")))
    if target is None:
        raise Ignore("Block of an unknown account")
    try:
        block_create(account=actor, target=target, uri=activity_id)
    except ApplicationError as exc:
        raise Ignore(f"block refused: {exc.message}") from exc

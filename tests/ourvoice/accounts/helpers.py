"""Small builders shared by the accounts tests."""

from __future__ import annotations

from ourvoice.accounts.models import Account
from ourvoice.accounts.services import account_update_profile
from tests.factories import local_account


def locked_account(username: str) -> Account:
    """A local account that approves its followers by hand."""
    return account_update_profile(account=local_account(username), locked=True)

"""POST /api/v1/reports: report an account and, optionally, some of its statuses."""

from __future__ import annotations

from typing import Any

from rest_framework.request import Request
from rest_framework.response import Response

from moderation.models import Report
from moderation.services import report_create
from ourvoice.accounts.selectors import account_get
from ourvoice.api.mastodon.base import MastodonView
from ourvoice.api.mastodon.entities import iso, render_account
from ourvoice.core.errors import Invalid


def render_report(report: Report) -> dict[str, Any]:
    """Mastodon's Report entity as the reporter sees it."""
    return {
        "id": str(report.id),
        "action_taken": report.is_resolved,
        "action_taken_at": iso(report.resolved_at),
        "category": report.category,
        "comment": report.comment,
        "forwarded": report.forwarded,
        "created_at": iso(report.created_at),
        "status_ids": [str(i) for i in report.status_ids],
        # Mastodon stores no rule ids unless some were given, and then renders null.
        "rule_ids": [str(i) for i in report.rule_ids] if report.rule_ids else None,
        "target_account": render_account(report.target_account),
    }


class ReportCreate(MastodonView):
    scopes = {"POST": "write:reports"}

    def post(self, request: Request) -> Response:
        p = self.params
        account_id = p.str("account_id")
        if not account_id:
            raise Invalid("account_id can't be blank")
        target = account_get(account_id=account_id)
        report = report_create(
            reporter=self.viewer,
            target_account=target,
            post_ids=p.str_list("status_ids"),
            comment=p.str("comment"),
            category=p.str("category"),
            rule_ids=p.str_list("rule_ids"),
            forward=p.bool("forward"),
        )
        return Response(render_report(report))

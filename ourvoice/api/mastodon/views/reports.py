"""POST /api/v1/reports: report an account and, optionally, some of its statuses."""

from __future__ import annotations

from rest_framework.request import Request
from rest_framework.response import Response

from moderation.services import report_create
from ourvoice.accounts.selectors import account_get
from ourvoice.api.mastodon.base import MastodonView
from ourvoice.api.mastodon.entities import render_report
from ourvoice.core.errors import Invalid


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

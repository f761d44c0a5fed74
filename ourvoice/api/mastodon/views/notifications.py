"""Notifications (list, show, clear, dismiss) and read markers."""

from __future__ import annotations

from rest_framework.request import Request
from rest_framework.response import Response

from ourvoice.api.mastodon.base import MastodonView
from ourvoice.api.mastodon.entities import iso, render_notifications
from ourvoice.api.mastodon.pagination import page_from, window
from ourvoice.core.errors import Invalid
from ourvoice.notifications.models import Marker, Notification
from ourvoice.notifications.selectors import markers_get, notification_get, notifications_for
from ourvoice.notifications.services import marker_set, notification_clear, notification_dismiss

KNOWN_TYPES = frozenset(Notification.Type.values)
#: Ids are signed 64-bit integers.
MAX_ID = 2**63 - 1


class NotificationList(MastodonView):
    """GET /api/v1/notifications: `types[]`, `exclude_types[]`, `account_id`, cursors, Link."""

    scopes = {"GET": "read:notifications"}

    def get(self, request: Request) -> Response:
        p = self.params
        page = page_from(p, default=40, maximum=80)
        asked = p.str_list("types")
        # Mastodon: requested types ∩ known types; unknown names are ignored, so asking only
        # for unknown types gives an empty list (not every type).
        types = [t for t in asked if t in KNOWN_TYPES]
        if asked and not types:
            return self.paginated(request, [], [], page)
        account_id = p.str("account_id")
        if account_id and not account_id.isdigit():
            return self.paginated(request, [], [], page)
        qs = notifications_for(
            recipient=self.viewer,
            types=types,
            exclude_types=p.str_list("exclude_types"),
            from_account_id=int(account_id) if account_id else None,
        )
        items = window(qs, page)
        data = render_notifications(items, viewer=self.viewer)
        return self.paginated(request, data, [n.id for n in items], page)


class NotificationDetail(MastodonView):
    scopes = {"GET": "read:notifications"}

    def get(self, request: Request, id: str) -> Response:
        item = notification_get(recipient=self.viewer, notification_id=id)
        return Response(render_notifications([item], viewer=self.viewer)[0])


class NotificationClear(MastodonView):
    scopes = {"POST": "write:notifications"}

    def post(self, request: Request) -> Response:
        notification_clear(recipient=self.viewer)
        return Response({})


class NotificationDismiss(MastodonView):
    scopes = {"POST": "write:notifications"}

    def post(self, request: Request, id: str) -> Response:
        notification_dismiss(recipient=self.viewer, notification_id=id)
        return Response({})


def _render_marker(marker: Marker) -> dict:
    return {
        "last_read_id": str(marker.last_read_id),
        "version": marker.version,
        "updated_at": iso(marker.updated_at),
    }


class Markers(MastodonView):
    """GET/POST /api/v1/markers (Mastodon scopes: read:statuses / write:statuses)."""

    scopes = {"GET": "read:statuses", "POST": "write:statuses"}

    def get(self, request: Request) -> Response:
        markers = markers_get(account=self.viewer, timelines=self.params.str_list("timeline"))
        return Response({name: _render_marker(m) for name, m in markers.items()})

    def post(self, request: Request) -> Response:
        wanted: dict[str, int] = {}
        for timeline in Marker.Timeline.values:
            if timeline not in self.params:
                continue
            raw = self.params.dict(timeline).get("last_read_id")
            value = str(raw).strip() if raw is not None else ""
            if not value.isdigit() or int(value) > MAX_ID:
                raise Invalid(f"{timeline}[last_read_id] must be an id")
            wanted[timeline] = int(value)
        saved = {
            timeline: marker_set(account=self.viewer, timeline=timeline, last_read_id=last_read)
            for timeline, last_read in wanted.items()
        }
        return Response({name: _render_marker(m) for name, m in saved.items()})

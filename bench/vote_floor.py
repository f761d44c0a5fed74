"""The I/O floor of a vote, for `bench/votes.py`: a WSGI app serving one extra, bench-only route.

`POST /bench/vote-floor/{status id}` makes the round trips a plain vote makes, in the same
order, with trivial statements and no vote logic: the bearer token (DRF authentication, the
same scopes as the vote), the status read with the viewer's relations
(`post_get_visible_to`), then one transaction that locks the status's case, touches one
column of it and adds to a Redis hash, then commits. No weights, no vote context, no vote or
audit rows, no hash chain, no serializer. What a vote costs above this floor is the vote's own
work; what the floor costs against the trivial endpoint is the price of the storage design
(PostgreSQL the truth, a transaction per vote, running sums in Redis) on this box.

The route sits right before the Mastodon API's catch-all, after the native API, so URL
resolution walks as far as it does for a vote. Never part of the production URLconf: only
the benchmark's own gunicorn loads this module (`gunicorn bench.vote_floor:application`).
"""

from __future__ import annotations

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ourvoice.settings")
django.setup()

from django.db import transaction  # noqa: E402
from django.utils import timezone  # noqa: E402
from rest_framework.request import Request  # noqa: E402
from rest_framework.response import Response  # noqa: E402

import ourvoice.urls  # noqa: E402
from moderation.models import Case  # noqa: E402
from moderation.tally import KEY_TTL_SECONDS  # noqa: E402
from ourvoice.api.mastodon.routing import api  # noqa: E402
from ourvoice.api.native.views import WRITE, NativeView, _vote_input  # noqa: E402
from ourvoice.core import rawsql  # noqa: E402
from ourvoice.core.errors import NotFound  # noqa: E402
from ourvoice.posts.selectors import post_get_visible_to  # noqa: E402

FLOOR_PATH = "/bench/vote-floor/{id}"
#: Redis keys the floor adds to (deleted by the benchmark afterwards).
FLOOR_KEY_PREFIX = "ov:bench:floor:"

_CASES = rawsql.quoted_table(Case)
_LOCK = f"SELECT id FROM {_CASES} WHERE post_id = %s AND state = %s FOR UPDATE"
_TOUCH = f"UPDATE {_CASES} SET last_vote_at = %s WHERE id = %s"


def _redis():
    import redis
    from django.conf import settings

    global _client
    if _client is None:
        _client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=5)
    return _client


_client = None


class VoteFloor(NativeView):
    scopes = {"POST": WRITE}

    def post(self, request: Request, id: str) -> Response:
        post = post_get_visible_to(viewer=self.viewer, post_id=id)
        verdict = _vote_input(self)["verdict"]
        with transaction.atomic():
            row = rawsql.fetchone(_LOCK, [post.pk, Case.State.OPEN])
            if row is None:
                raise NotFound("Record not found")
            rawsql.execute(_TOUCH, [timezone.now(), row[0]])
            key = f"{FLOOR_KEY_PREFIX}{row[0]}"
            pipe = _redis().pipeline(transaction=False)
            pipe.hincrbyfloat(key, "rw", 1.0)
            pipe.expire(key, KEY_TTL_SECONDS)
            pipe.execute()
        return Response({"case_id": str(row[0]), "verdict": verdict})


ourvoice.urls.urlpatterns.insert(
    len(ourvoice.urls.urlpatterns) - 1,
    api(FLOOR_PATH.format(id=r"(?P<id>[^/]+)").lstrip("/"), VoteFloor),
)

from ourvoice.wsgi import application  # noqa: E402,F401  (after the route is in place)

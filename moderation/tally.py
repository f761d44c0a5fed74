"""Running vote sums per case in Redis: a rebuildable cache, never the basis of a decision.

Each open case has a hash `ov:mod:tally:<case id>:v<tally_version>` with the sums over its
active, counted, non-voided votes: `rw` (remove weight, before caps, ageing and version
discounts), `rn` (remove voters with weight > 0), `rc` (remove votes), `kw` and `kn` (keep
weight and voters). Those sums can only over-estimate what the rule counts, so they serve as a
cheap necessary condition ("could the rule pass?"): only when they say yes does the vote
service evaluate the rule from PostgreSQL. A missing key (Redis wiped, evicted, version bumped
by a void) is rebuilt from PostgreSQL under the case's row lock.

Updates happen while the caller holds the case's row lock and before its transaction commits,
so the next voter (who waits for that lock) always reads sums that include this vote; a change
that lowers a sum deletes the key instead (see `tally_apply`), so the sums never
under-estimate. Without `REDIS_URL` (quick start) an in-process dictionary stands in for Redis.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any, Protocol

from django.conf import settings
from django.db.models import Count, Q, Sum

from moderation.models import Case, Vote

#: Keys expire if a case is forgotten (every open case is rebuilt on demand anyway).
KEY_TTL_SECONDS = 40 * 86_400
_FIELDS = ("rw", "rn", "rc", "kw", "kn")


@dataclass(frozen=True)
class Sums:
    rw: float = 0.0
    rn: int = 0
    rc: int = 0
    kw: float = 0.0
    kn: int = 0

    def plus(self, other: Sums, sign: int = 1) -> Sums:
        return Sums(
            rw=self.rw + sign * other.rw,
            rn=self.rn + sign * other.rn,
            rc=self.rc + sign * other.rc,
            kw=self.kw + sign * other.kw,
            kn=self.kn + sign * other.kn,
        )

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


def vote_sums(vote: Vote) -> Sums:
    """What one vote adds to the sums (nothing when it does not count)."""
    if not vote.active or not vote.counts or vote.voided_at is not None:
        return Sums()
    if vote.verdict == Vote.Verdict.REMOVE:
        return Sums(rw=vote.weight, rn=int(vote.weight > 0), rc=1)
    return Sums(kw=vote.weight, kn=int(vote.weight > 0))


def counted_votes_q() -> Q:
    """Votes that enter a tally: active, counted and not voided."""
    return Q(active=True, counts=True, voided_at__isnull=True)


def sums_from_db(case: Case) -> Sums:
    """The sums recomputed from PostgreSQL (the truth)."""
    remove = Q(verdict=Vote.Verdict.REMOVE)
    keep = Q(verdict=Vote.Verdict.KEEP)
    row = Vote.objects.filter(counted_votes_q(), case=case).aggregate(
        rw=Sum("weight", filter=remove, default=0.0),
        rn=Count("id", filter=remove & Q(weight__gt=0)),
        rc=Count("id", filter=remove),
        kw=Sum("weight", filter=keep, default=0.0),
        kn=Count("id", filter=keep & Q(weight__gt=0)),
    )
    return Sums(**row)


class _Backend(Protocol):
    def get(self, key: str) -> Mapping[str, str] | None: ...
    def put(self, key: str, sums: Sums) -> None: ...
    def add(self, key: str, delta: Sums) -> Mapping[str, str] | None: ...
    def delete(self, key: str) -> None: ...
    def delete_all(self) -> int: ...


#: KEYS[1] = tally key; ARGV = ttl, then field/increment pairs. Returns the hash after the
#: increments (HGETALL's flat list), or nil (no-op) when the key is missing.
_ADD_IF_PRESENT = """
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
for i = 2, #ARGV, 2 do redis.call('HINCRBYFLOAT', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('EXPIRE', KEYS[1], ARGV[1])
return redis.call('HGETALL', KEYS[1])
"""


class _RedisBackend:
    def __init__(self, url: str) -> None:
        import redis

        self.client = redis.Redis.from_url(url, socket_timeout=5, decode_responses=True)
        self._add_script = self.client.register_script(_ADD_IF_PRESENT)

    def get(self, key: str) -> Mapping[str, str] | None:
        values = self.client.hgetall(key)
        return values or None

    def put(self, key: str, sums: Sums) -> None:
        pipe = self.client.pipeline(transaction=True)
        pipe.delete(key)
        pipe.hset(key, mapping={k: repr(v) for k, v in sums.as_dict().items()})
        pipe.expire(key, KEY_TTL_SECONDS)
        pipe.execute()

    def add(self, key: str, delta: Sums) -> Mapping[str, str] | None:
        # Only adjust a key that exists (a missing one is rebuilt from PostgreSQL later): one
        # atomic script, one round trip, answering the sums after the change.
        args: list[str | float] = [KEY_TTL_SECONDS]
        for name, value in delta.as_dict().items():
            if value:
                args += [name, float(value)]
        flat = self._add_script(keys=[key], args=args)
        if not flat:
            return None
        return dict(zip(flat[::2], flat[1::2], strict=True))

    def delete(self, key: str) -> None:
        self.client.delete(key)

    def delete_all(self) -> int:
        keys = list(self.client.scan_iter(match="ov:mod:tally:*", count=1000))
        for start in range(0, len(keys), 500):
            self.client.delete(*keys[start : start + 500])
        return len(keys)


class _MemoryBackend:
    def __init__(self) -> None:
        self.data: dict[str, dict[str, str]] = {}
        self.lock = threading.Lock()

    def get(self, key: str) -> Mapping[str, str] | None:
        with self.lock:
            value = self.data.get(key)
            return dict(value) if value else None

    def put(self, key: str, sums: Sums) -> None:
        with self.lock:
            self.data[key] = {k: repr(v) for k, v in sums.as_dict().items()}

    def add(self, key: str, delta: Sums) -> Mapping[str, str] | None:
        with self.lock:
            current = self.data.get(key)
            if current is None:
                return None
            for name, value in delta.as_dict().items():
                current[name] = repr(float(current.get(name, 0)) + float(value))
            return dict(current)

    def delete(self, key: str) -> None:
        with self.lock:
            self.data.pop(key, None)

    def delete_all(self) -> int:
        with self.lock:
            count = len(self.data)
            self.data.clear()
            return count


@lru_cache(maxsize=4)
def _backend_for(url: str) -> _Backend:
    return _RedisBackend(url) if url else _MemoryBackend()


def _backend() -> _Backend:
    return _backend_for(settings.REDIS_URL)


def tally_key(case: Case) -> str:
    return f"ov:mod:tally:{case.id}:v{case.tally_version}"


def _parse(values: Mapping[str, Any]) -> Sums:
    number = {k: float(values.get(k, 0) or 0) for k in _FIELDS}
    return Sums(
        rw=number["rw"],
        rn=round(number["rn"]),
        rc=round(number["rc"]),
        kw=number["kw"],
        kn=round(number["kn"]),
    )


def tally_read(case: Case) -> Sums | None:
    """The cached sums, or None when the key is missing."""
    values = _backend().get(tally_key(case))
    return _parse(values) if values is not None else None


def tally_rebuild(case: Case) -> Sums:
    """Recompute the case's sums from PostgreSQL and store them."""
    sums = sums_from_db(case)
    _backend().put(tally_key(case), sums)
    return sums


def tally_start(case: Case) -> Sums:
    """Zero sums for a case opened by the current transaction (it holds no vote yet)."""
    sums = Sums()
    _backend().put(tally_key(case), sums)
    return sums


def tally_current(case: Case) -> Sums:
    """The sums, rebuilt from PostgreSQL when missing. Call with the case row locked."""
    sums = tally_read(case)
    return sums if sums is not None else tally_rebuild(case)


def tally_apply(case: Case, delta: Sums) -> None:
    """Account for a change of the case's votes. Call with the case row locked, before commit.

    A pure addition is added to the key (a missing key stays missing until rebuilt); if the
    transaction then rolls back, the sums over-estimate, which only costs one extra evaluation.
    A change that lowers any sum deletes the key instead, so a rollback can never leave the
    sums too low: the next voter (waiting for the row lock) rebuilds them from PostgreSQL.
    """
    if delta == Sums():
        return
    if min(delta.as_dict().values()) < 0:
        _backend().delete(tally_key(case))
    else:
        _backend().add(tally_key(case), delta)


def tally_record(case: Case, delta: Sums, *, new_case: bool = False) -> Sums:
    """Account for a vote change already written to PostgreSQL in the current transaction and
    return the sums after it. Call with the case row locked, before commit.

    One Redis round trip in the usual case (add to the existing key and read it back). A case
    opened by this transaction starts from `delta`; a missing key is rebuilt from PostgreSQL
    (which already holds the change); a change that lowers any sum deletes the key as
    `tally_apply` does and answers the sums from PostgreSQL.
    """
    if min(delta.as_dict().values()) < 0:
        tally_apply(case, delta)  # deletes the key
        return sums_from_db(case)
    key = tally_key(case)
    if new_case:
        _backend().put(key, delta)
        return delta
    if delta == Sums():
        return tally_current(case)
    values = _backend().add(key, delta)
    return _parse(values) if values is not None else tally_rebuild(case)


def tally_forget_all() -> int:
    """Delete every tally key (tests, and the rebuild command's --from-scratch)."""
    return _backend().delete_all()

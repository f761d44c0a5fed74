"""Time-ordered 64-bit ids (snowflake style).

Layout of the positive 63-bit integer: 41 bits of milliseconds since 2020-01-01 UTC, then 12 bits
of a per-process random node number, then a 10-bit sequence within the millisecond. Ids therefore
sort by creation time (Tusky compares them by length, then lexically; Ivory needs numeric strings),
fit PostgreSQL's bigint, and two processes only collide if they drew the same node number and
create a row in the same millisecond with the same sequence.
"""

from __future__ import annotations

import os
import secrets
import threading
import time
from datetime import datetime

EPOCH_MS = 1_577_836_800_000  # 2020-01-01T00:00:00Z
_NODE_BITS = 12
_SEQ_BITS = 10
_SEQ_MASK = (1 << _SEQ_BITS) - 1

_lock = threading.Lock()
_state = {"pid": -1, "node": 0, "last_ms": -1, "seq": 0}


def _reseed_if_forked() -> None:
    pid = os.getpid()
    if _state["pid"] != pid:
        _state["pid"] = pid
        _state["node"] = secrets.randbits(_NODE_BITS)
        _state["last_ms"] = -1
        _state["seq"] = 0


def snowflake_id() -> int:
    """Return a new id, strictly increasing within this process."""
    with _lock:
        _reseed_if_forked()
        now = int(time.time() * 1000) - EPOCH_MS
        if now < _state["last_ms"]:  # clock went backwards: stay monotonic
            now = _state["last_ms"]
        if now == _state["last_ms"]:
            _state["seq"] = (_state["seq"] + 1) & _SEQ_MASK
            if _state["seq"] == 0:
                while now <= _state["last_ms"]:
                    now = int(time.time() * 1000) - EPOCH_MS
        else:
            _state["seq"] = 0
        _state["last_ms"] = now
        return (now << (_NODE_BITS + _SEQ_BITS)) | (_state["node"] << _SEQ_BITS) | _state["seq"]


def snowflake_from_datetime(moment: datetime) -> int:
    """Smallest id that a row created at `moment` could have (for time-based cursors)."""
    ms = int(moment.timestamp() * 1000) - EPOCH_MS
    return max(ms, 0) << (_NODE_BITS + _SEQ_BITS)


def snowflake_to_datetime_ms(value: int) -> int:
    """Unix milliseconds encoded in an id."""
    return (value >> (_NODE_BITS + _SEQ_BITS)) + EPOCH_MS

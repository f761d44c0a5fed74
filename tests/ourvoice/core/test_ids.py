"""Snowflake ids: strictly increasing, unique across threads, 63-bit, time-ordered."""

from __future__ import annotations

import itertools
import threading
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from hypothesis import given
from hypothesis import strategies as st

from ourvoice.core import ids
from ourvoice.core.ids import (
    EPOCH_MS,
    snowflake_from_datetime,
    snowflake_id,
    snowflake_to_datetime_ms,
)

INT64_MAX = 2**63 - 1
EPOCH = datetime(2020, 1, 1, tzinfo=UTC)
# 41 bits of milliseconds after the epoch: the layout's last representable moment (2089).
LAST_MOMENT = EPOCH + timedelta(milliseconds=2**41 - 1)
# Hypothesis takes naive bounds and attaches the timezone itself.
NAIVE_EPOCH = EPOCH.replace(tzinfo=None)
NAIVE_LAST = LAST_MOMENT.replace(tzinfo=None)


def test_ids_strictly_increase_in_a_tight_loop():
    values = [snowflake_id() for _ in range(10_000)]
    assert len(set(values)) == 10_000
    assert all(a < b for a, b in itertools.pairwise(values))


def test_ids_are_positive_and_fit_signed_64_bit():
    value = snowflake_id()
    assert 0 < value <= INT64_MAX
    # Not just "fits": the top (sign) bit is free and the id is far from overflowing today.
    assert value.bit_length() <= 63


def test_id_encodes_the_current_time():
    before = int(datetime.now(UTC).timestamp() * 1000)
    value = snowflake_id()
    after = int(datetime.now(UTC).timestamp() * 1000)
    assert before <= snowflake_to_datetime_ms(value) <= after


def test_threads_produce_unique_ids():
    results: list[list[int]] = [[] for _ in range(8)]
    barrier = threading.Barrier(len(results))

    def work(bucket: list[int]) -> None:
        barrier.wait()
        bucket.extend(snowflake_id() for _ in range(2_000))

    threads = [threading.Thread(target=work, args=(bucket,)) for bucket in results]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads)
    everything = [value for bucket in results for value in bucket]
    assert len(everything) == 16_000
    assert len(set(everything)) == 16_000
    for bucket in results:  # each thread also sees its own ids increase
        assert bucket == sorted(bucket)


def _fresh_state(monkeypatch, clock) -> None:
    """Give `ids` its own clock and a fresh generator state (restored after the test)."""
    monkeypatch.setattr(ids, "time", SimpleNamespace(time=clock))
    monkeypatch.setattr(ids, "_state", {"pid": -1, "node": 0, "last_ms": -1, "seq": 0})


def test_sequence_overflow_within_a_millisecond_moves_to_the_next_millisecond(monkeypatch):
    """More than 1024 ids in one (frozen) millisecond must wait for the clock, not repeat."""
    calls = {"n": 0}

    def clock() -> float:
        calls["n"] += 1
        # Binary-exact fractions, so int(t * 1000) is exactly ...250 then ...500.
        return 1_700_000_000.25 if calls["n"] <= 1030 else 1_700_000_000.5

    _fresh_state(monkeypatch, clock)
    values = [snowflake_id() for _ in range(1_100)]
    assert len(set(values)) == 1_100
    assert values == sorted(values)
    assert {snowflake_to_datetime_ms(v) for v in values} == {1_700_000_000_250, 1_700_000_000_500}


def test_clock_going_backwards_keeps_ids_increasing(monkeypatch):
    times = iter([1_700_000_000.5, 1_700_000_000.0, 1_700_000_000.0, 1_700_000_000.75])
    _fresh_state(monkeypatch, lambda: next(times))
    values = [snowflake_id() for _ in range(4)]
    assert values == sorted(set(values))
    # The ids made while the clock was behind carry the last seen time, not the earlier one.
    assert snowflake_to_datetime_ms(values[1]) == 1_700_000_000_500


def test_from_datetime_is_a_lower_bound_for_ids_created_then():
    moment = datetime.now(UTC)
    value = snowflake_id()
    later = datetime.now(UTC) + timedelta(milliseconds=1)
    assert snowflake_from_datetime(moment - timedelta(milliseconds=1)) <= value
    assert value < snowflake_from_datetime(later + timedelta(milliseconds=1))


def test_from_datetime_before_the_epoch_is_zero():
    assert snowflake_from_datetime(datetime(2019, 6, 1, tzinfo=UTC)) == 0
    assert snowflake_from_datetime(EPOCH) == 0


@given(
    st.datetimes(
        min_value=NAIVE_EPOCH,
        max_value=NAIVE_LAST,
        timezones=st.just(UTC),
    ),
    st.datetimes(
        min_value=NAIVE_EPOCH,
        max_value=NAIVE_LAST,
        timezones=st.just(UTC),
    ),
)
def test_from_datetime_preserves_order(a: datetime, b: datetime):
    first, second = snowflake_from_datetime(a), snowflake_from_datetime(b)
    if a <= b:
        assert first <= second
    else:
        assert first >= second
    assert 0 <= first <= INT64_MAX
    assert snowflake_to_datetime_ms(first) == int(a.timestamp() * 1000)


@given(st.integers(min_value=EPOCH_MS, max_value=EPOCH_MS + 2**41 - 1))
def test_datetime_round_trip(ms: int):
    moment = datetime.fromtimestamp(ms / 1000, tz=UTC)
    value = snowflake_from_datetime(moment)
    assert abs(snowflake_to_datetime_ms(value) - ms) <= 1  # float rounding of the timestamp
    assert value <= INT64_MAX

"""moderation_rebuild_tallies and moderation_audit_verify on real rows (PostgreSQL + Redis)."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from moderation import tally
from moderation.models import AuditEvent, Case
from moderation.services import vote_cast
from ourvoice.posts.services import post_create
from tests.factories import local_account

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _knobs(small_moderation_rule, settings):
    """The small rule of tests/conftest.py."""


@pytest.fixture
def cases() -> list[Case]:
    """Three open cases with mixed votes and one removed case."""
    authors = [local_account(f"a{i}") for i in range(2)]
    voters = [local_account(f"v{i}") for i in range(4)]
    posts = [post_create(author=authors[i % 2], text=f"post {i}") for i in range(4)]
    plan = {0: ["remove", "keep"], 1: ["remove", "remove", "keep", "keep"], 2: ["keep"]}
    for i, verdicts in plan.items():
        for voter, verdict in zip(voters, verdicts, strict=False):
            vote_cast(voter=voter, post=posts[i], verdict=verdict)
    for voter in voters[:3]:
        vote_cast(voter=voter, post=posts[3], verdict="remove")
    found = [Case.objects.get(post=p) for p in posts]
    assert [c.state for c in found] == ["open", "open", "open", "removed"]
    return found


def run(name: str, *args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(name, *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_rebuild_restores_identical_tallies(cases):
    open_cases = cases[:3]
    before = {c.pk: tally.tally_current(c) for c in open_cases}
    assert before[cases[1].pk] == tally.Sums(rw=2.0, rn=2, rc=2, kw=2.0, kn=2)
    tally.tally_forget_all()
    assert all(tally.tally_read(c) is None for c in open_cases)
    out, err = run("moderation_rebuild_tallies")
    assert "Rebuilt 3 tally(ies)" in out
    assert "3/3 (100%)" in err  # the progress line
    for case in open_cases:
        assert tally.tally_read(case) == before[case.pk] == tally.sums_from_db(case)
    assert tally.tally_read(cases[3]) is None  # decided: not cached


def test_check_reports_divergence_and_missing(cases):
    for case in cases[:3]:
        tally.tally_rebuild(case)
    out, _ = run("moderation_rebuild_tallies", "--check")
    assert "3 match, 0 not cached, 0 diverge" in out
    # tamper with one key, drop another
    tally._backend().put(tally.tally_key(cases[0]), tally.Sums(rw=9.0, rn=9, rc=9))
    tally._backend().delete(tally.tally_key(cases[2]))
    out, err = StringIO(), StringIO()
    with pytest.raises(CommandError, match="1 tally") as exc:
        call_command("moderation_rebuild_tallies", "--check", stdout=out, stderr=err)
    assert exc.value.returncode == 1
    assert f"case {cases[0].pk}: redis" in out.getvalue()
    assert "1 match, 1 not cached, 1 diverge" in out.getvalue()
    # --check changed nothing; a rebuild fixes it
    assert tally.tally_read(cases[0]).rw == 9.0
    run("moderation_rebuild_tallies", "--from-scratch")
    out, _ = run("moderation_rebuild_tallies", "--check")
    assert "3 match" in out


def test_audit_verify(cases):
    out, err = run("moderation_audit_verify")
    chains = AuditEvent.objects.values("case_id").distinct().count()
    assert f"{chains} chain(s) intact." in out and "global head" in out
    assert f"{chains}/{chains}" in err
    event = AuditEvent.objects.filter(case=cases[1]).order_by("seq")[1]
    AuditEvent.objects.filter(pk=event.pk).update(actor="account:1")
    out = StringIO()
    with pytest.raises(CommandError) as exc:
        call_command("moderation_audit_verify", stdout=out, stderr=StringIO())
    assert exc.value.returncode == 1
    assert f"case {cases[1].pk} seq {event.seq}: hash does not match the event" in out.getvalue()
    out, _ = run("moderation_audit_verify", "--case", str(cases[0].pk))
    assert "1 chain(s) intact." in out
    with pytest.raises(CommandError, match="case id"):
        call_command("moderation_audit_verify", "--case", "x", stdout=StringIO())

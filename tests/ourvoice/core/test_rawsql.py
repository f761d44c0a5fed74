"""ourvoice.core.rawsql: prebuilt INSERT values equal what the ORM would write."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import connection

from moderation.models import AuditEvent, Case, Vote
from ourvoice.core.rawsql import fetchone, insert_statement, model_columns, quoted_table
from ourvoice.posts.models import Post
from ourvoice.posts.services import post_create
from tests.factories import local_account

pytestmark = pytest.mark.django_db


def orm_values(statement, obj) -> list:
    return [f.get_db_prep_save(f.pre_save(obj, True), connection) for f in statement.fields]


def comparable(values: list) -> list:
    # JSON adapters wrap the same object in a new wrapper each time: compare what they hold.
    return [getattr(v, "obj", v) for v in values]


@pytest.mark.parametrize(
    ("weight", "tau", "reason"),
    [
        (1.0, 0.5, "spam"),
        (1, 0, "spam"),  # ints in float fields: converted, as the ORM does
        (Decimal("0.25"), True, "other"),  # other types: through the field
    ],
)
def test_vote_values_match_the_orm(weight, tau, reason):
    vote = Vote(
        id=123,
        case_id=456,
        voter_id=789,
        voter_key="789",
        source=Vote.Source.LOCAL,
        verdict="remove",
        reason_code=reason,
        comment="",
        uri="https://example.test/users/a/modvotes/123",
        content_version="sha256:x",
        rule_version="ov-rule/1",
        weight=weight,
        tier="local",
        tau=tau,
        alpha=1.0,
        rho=1.0,
        age_days=3,
        domain="",
        cohort="2026-W01",
        prior_interaction=False,
        counts=True,
        not_counted="",
        cast_at=datetime(2026, 1, 2, tzinfo=UTC),
    )
    statement = insert_statement(Vote)
    fast = statement.values(vote)
    assert comparable(fast) == comparable(orm_values(statement, vote))
    assert [type(v) for v in fast] == [type(v) for v in orm_values(statement, vote)]


def test_audit_event_values_match_the_orm():
    event = AuditEvent(
        case_id=1,
        seq=7,
        kind="vote.cast",
        actor="account:1",
        payload={"vote": 1, "inputs": {"tau": 1.0}},
        created_at=datetime(2026, 1, 2, tzinfo=UTC),
        prev_hash="0" * 64,
        hash="f" * 64,
    )
    statement = insert_statement(AuditEvent, with_pk=False)
    assert comparable(statement.values(event)) == comparable(orm_values(statement, event))


def test_every_field_of_wide_models_is_planned():
    for model in (Vote, AuditEvent, Case, Post):
        statement = insert_statement(model)
        assert [f.attname for f in statement.fields] == [a for a, _ in statement.plan]
        assert len(statement.plan) == len(model._meta.concrete_fields)


def _loaded_state(obj) -> tuple:
    fields = {k: v for k, v in obj.__dict__.items() if k != "_state"}
    return type(obj), fields, obj._state.adding, obj._state.db


def test_instances_from_raw_rows_equal_the_orms():
    """`ModelColumns.instance` fills instances directly; they must equal `Model.from_db`'s
    (every field, loaded state, related objects fetched on access, saving updates)."""
    author = local_account("rawauthor")

    post = post_create(author=author, text="raw rows")
    for model, pk in ((Post, post.pk), (type(author), author.pk)):
        layout = model_columns(model, "x")
        assert layout.plain, "these models take the fast path"
        row = fetchone(f"SELECT {layout.select} FROM {quoted_table(model)} x WHERE x.id = %s", [pk])
        fast, orm = layout.instance(row), model.objects.get(pk=pk)
        assert _loaded_state(fast) == _loaded_state(orm)
    fast_post = model_columns(Post, "x").instance(
        fetchone(
            f"SELECT {model_columns(Post, 'x').select} FROM {quoted_table(Post)} x WHERE x.id = %s",
            [post.pk],
        )
    )
    assert fast_post.author == author  # the foreign key resolves on access
    fast_post.spoiler_text = "edited"
    fast_post.save(update_fields=["spoiler_text"])  # an UPDATE, not an INSERT
    assert Post.objects.get(pk=post.pk).spoiler_text == "edited"

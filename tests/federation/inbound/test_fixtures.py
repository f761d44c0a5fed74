"""The fixture collection itself: every file is valid JSON, documented in the README and
replayed by at least one test of this folder."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.federation.inbound.conftest import FIXTURES, load

ALL = sorted(p.relative_to(FIXTURES).with_suffix("").as_posix() for p in FIXTURES.glob("*/*.json"))
SOFTWARE = {"mastodon", "misskey", "gotosocial", "pleroma", "lemmy", "pixelfed", "ourvoice"}


def test_every_software_has_fixtures():
    assert {name.split("/")[0] for name in ALL} == SOFTWARE


@pytest.mark.parametrize("name", ALL)
def test_fixture_is_documented_and_replayed(name, settings):
    software, stem = name.split("/")
    readme = (FIXTURES / "README.md").read_text(encoding="utf-8")
    section = readme.split(f"## {software}/", 1)[1].split("\n## ", 1)[0]
    assert f"`{stem}.json`" in section, f"{name} is not listed in the README"
    tests = "".join(p.read_text(encoding="utf-8") for p in Path(__file__).parent.glob("test_*.py"))
    assert f'"{name}"' in tests, f"no test replays {name}"
    placeholders = set(re.findall(r"\{\{([A-Z_]+)\}\}", (FIXTURES / f"{name}.json").read_text()))
    document = load(name, **dict.fromkeys(placeholders, "1"))
    assert json.dumps(document)
    assert isinstance(document.get("type"), str)

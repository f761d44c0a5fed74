"""Request parameters in every encoding clients use (mastodon-api.md §0.1 and §4).

Query string, form, multipart and JSON bodies are merged (body wins). Rails-style keys are
unfolded: `key[]=a&key[]=b` → list, `a[b][c]=x` → nested dict, `key[0]=x` → list. Booleans
accept true/false/1/0/yes/no/on/off in any case (toot sends Python's `True`).
"""

from __future__ import annotations

import re
from typing import Any

from django.http import QueryDict

from ourvoice.core.errors import Invalid

_KEY_RE = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_TRUE = {"1", "true", "yes", "on", "t"}
_FALSE = {"0", "false", "no", "off", "f", ""}


def _insert(target: dict[str, Any], key: str, values: list[Any]) -> None:
    match = _KEY_RE.match(key)
    if not match:
        target[key] = values[-1] if values else None
        return
    head, rest = match.group(1), match.group(2)
    parts = [head, *re.findall(r"\[([^\[\]]*)\]", rest)]
    node: Any = target
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if last:
            if part == "":
                continue
            node[part] = values[-1] if values else None
            return
        nxt = parts[i + 1]
        if nxt == "" and i + 1 == len(parts) - 1:
            existing = node.get(part)
            items = existing if isinstance(existing, list) else []
            items.extend(values)
            node[part] = items
            return
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child


def _numeric_dicts_to_lists(value: Any) -> Any:
    if isinstance(value, dict):
        converted = {k: _numeric_dicts_to_lists(v) for k, v in value.items()}
        if converted and all(k.isdigit() for k in converted):
            return [converted[k] for k in sorted(converted, key=int)]
        return converted
    if isinstance(value, list):
        return [_numeric_dicts_to_lists(v) for v in value]
    return value


def _from_querydict(qd: QueryDict) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in qd:
        values = qd.getlist(key)
        _insert(out, key, values)
    return _numeric_dicts_to_lists(out)


class Params:
    """Typed access to merged request parameters."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data

    @classmethod
    def from_request(cls, request: Any) -> Params:
        merged = _from_querydict(request.query_params)
        body = request.data
        if isinstance(body, QueryDict):
            merged.update(_from_querydict(body))
        elif isinstance(body, dict):
            merged.update(body)
        return cls(merged)

    def __contains__(self, name: str) -> bool:
        return name in self.data and self.data[name] is not None

    def raw(self, name: str, default: Any = None) -> Any:
        return self.data.get(name, default)

    def str(self, name: str, default: str = "", *, max_length: int | None = None) -> str:
        value = self.data.get(name)
        if value is None:
            return default
        if isinstance(value, list):
            value = value[-1] if value else default
        if isinstance(value, bool):
            value = "true" if value else "false"
        if not isinstance(value, str | int | float):
            raise Invalid(f"{name} must be a string")
        text = str(value)
        if max_length is not None and len(text) > max_length:
            raise Invalid(f"{name} is too long (maximum is {max_length} characters)")
        return text

    def optional_str(self, name: str) -> str | None:
        return self.str(name) if name in self else None

    def bool(self, name: str, default: bool = False) -> bool:
        value = self.data.get(name)
        if value is None:
            return default
        if isinstance(value, list):
            value = value[-1] if value else None
            if value is None:
                return default
        if isinstance(value, bool):
            return value
        if isinstance(value, int | float):
            return bool(value)
        text = str(value).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise Invalid(f"{name} must be a boolean")

    def optional_bool(self, name: str) -> bool | None:
        return self.bool(name) if name in self else None

    def int(self, name: str, default: int | None = None) -> int | None:
        value = self.data.get(name)
        if value is None or value == "":
            return default
        if isinstance(value, list):
            value = value[-1]
        try:
            return int(str(value).strip())
        except ValueError as exc:
            raise Invalid(f"{name} must be a number") from exc

    def list(self, name: str) -> list[Any]:
        """A list parameter; a bare scalar counts as a one-item list (Phanpy)."""
        value = self.data.get(name)
        if value is None:
            value = self.data.get(f"{name}[]")
        if value is None:
            return []
        if isinstance(value, list):
            return value
        if isinstance(value, dict):
            return list(value.values())
        return [value]

    def str_list(self, name: str) -> list[str]:
        return [str(v) for v in self.list(name) if v is not None and str(v) != ""]

    def dict(self, name: str) -> dict[str, Any]:
        value = self.data.get(name)
        return value if isinstance(value, dict) else {}

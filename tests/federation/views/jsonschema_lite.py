"""A minimal JSON Schema (draft-04 subset) checker for the NodeInfo schemas.

Supports exactly what those schemas use: `type`, `required`, `properties`,
`additionalProperties: false`, `enum`, `pattern`, `minimum`, `items`, `minItems`,
`minProperties`. Any other validation keyword is an error, so the checker never silently
ignores a constraint. `jsonschema` is not a project dependency.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

SCHEMAS = Path(__file__).resolve().parent / "schemas"

ANNOTATIONS = {"$schema", "id", "description", "title"}
SUPPORTED = {
    "type",
    "required",
    "properties",
    "additionalProperties",
    "enum",
    "pattern",
    "minimum",
    "items",
    "minItems",
    "minProperties",
}

_TYPES = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "null": lambda v: v is None,
}


def load_schema(name: str) -> dict[str, Any]:
    return json.loads((SCHEMAS / name).read_text())


def errors(instance: Any, schema: dict[str, Any], path: str = "$") -> list[str]:
    """Every violation of `schema` by `instance`, as `path: message` strings."""
    unknown = set(schema) - SUPPORTED - ANNOTATIONS
    if unknown:
        raise ValueError(f"{path}: unsupported schema keywords {sorted(unknown)}")
    found: list[str] = []
    if "type" in schema:
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(_TYPES[t](instance) for t in types):
            return [f"{path}: expected {schema['type']}, got {type(instance).__name__}"]
    if "enum" in schema and instance not in schema["enum"]:
        found.append(f"{path}: {instance!r} is not one of {schema['enum']}")
    pattern = schema.get("pattern")
    if pattern and isinstance(instance, str) and not re.search(pattern, instance):
        found.append(f"{path}: {instance!r} does not match {schema['pattern']}")
    if "minimum" in schema and _TYPES["number"](instance) and instance < schema["minimum"]:
        found.append(f"{path}: {instance} is below {schema['minimum']}")
    if isinstance(instance, list):
        if len(instance) < schema.get("minItems", 0):
            found.append(f"{path}: fewer than {schema['minItems']} items")
        if "items" in schema:
            for index, item in enumerate(instance):
                found += errors(item, schema["items"], f"{path}[{index}]")
    if isinstance(instance, dict):
        if len(instance) < schema.get("minProperties", 0):
            found.append(f"{path}: fewer than {schema['minProperties']} properties")
        found += [
            f"{path}: missing required property {name!r}"
            for name in schema.get("required", [])
            if name not in instance
        ]
        properties = schema.get("properties", {})
        additional = schema.get("additionalProperties", True)
        if not isinstance(additional, bool):
            raise ValueError(f"{path}: only boolean additionalProperties is supported")
        if additional is False:
            found += [
                f"{path}: additional property {name!r} is not allowed"
                for name in instance
                if name not in properties
            ]
        for name, subschema in properties.items():
            if name in instance:
                found += errors(instance[name], subschema, f"{path}.{name}")
    return found

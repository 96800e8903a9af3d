"""Refresh ``anthropic_spec.json``: JSON schemas of the Anthropic Messages response types.

Anthropic publishes its API reference as the types of its official SDKs, which
are generated from it; this exports the response side of the Messages API
(``Message``, ``RawMessageStreamEvent``, ``MessageTokensCount``) from the
installed ``anthropic`` package (https://github.com/anthropics/anthropic-sdk-python,
MIT licence, Copyright (c) Anthropic) as JSON schemas, descriptions removed.

Usage (from the repository root, with the ``anthropic`` package installed)::

    python tests/spec/refresh_anthropic.py
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

OUT = Path(__file__).parent / "anthropic_spec.json"
_DROP = {"description", "title"}


def _trim(node: Any, names: bool = False) -> Any:
    if isinstance(node, dict):
        return {
            key: _trim(value, key == "properties" and not names)
            for key, value in node.items()
            if names or key not in _DROP
        }
    if isinstance(node, list):
        return [_trim(v) for v in node]
    return node


def main() -> None:
    import anthropic
    from anthropic.types import Message, MessageTokensCount, RawMessageStreamEvent
    from pydantic import TypeAdapter

    schemas: dict[str, Any] = {}
    for name, typ in [
        ("Message", Message),
        ("RawMessageStreamEvent", RawMessageStreamEvent),
        ("MessageTokensCount", MessageTokensCount),
    ]:
        schema = TypeAdapter(typ).json_schema(mode="serialization")
        schemas.update(schema.pop("$defs", {}))
        schemas[name] = schema
    data = {
        "source": "https://github.com/anthropics/anthropic-sdk-python (anthropic.types)",
        "anthropic_version": anthropic.__version__,
        "license": "MIT License. Copyright (c) Anthropic. JSON schemas exported from the "
        "SDK's response types, descriptions removed.",
        "schemas": {name: _trim(schema) for name, schema in sorted(schemas.items())},
    }
    OUT.write_text(json.dumps(data, separators=(",", ":")) + "\n", encoding="utf-8")
    print(f"wrote {OUT} ({len(schemas)} schemas, anthropic {anthropic.__version__})")


if __name__ == "__main__":
    main()

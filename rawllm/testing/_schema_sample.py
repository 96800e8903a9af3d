"""A JSON value that fits a JSON schema: what MockServer answers to structured-output requests
and puts in tool-call arguments.

Deterministic and pure.  The rule, by schema keyword: ``const`` and ``enum``
give their (first) value; ``$ref`` (local, ``#/...``) is followed; ``anyOf`` /
``oneOf`` take the first variant that is not ``null``; an object fills every
property it declares (so strict-mode schemas, where all are required, are
met) and is ``{}`` when it declares none; an array is ``[]`` unless
``minItems`` asks for items; a string is the answer text, an integer the
word count, a number the word count as float, a boolean ``true``.  Nesting
deeper than 8 levels (a recursive schema) stops at ``null`` / ``[]`` / ``{}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["sample"]

_MAX_DEPTH = 8


def sample(schema: Mapping[str, Any], text: str, n: int) -> Any:
    """A value fitting ``schema``: strings are ``text``, integers ``n``.

    Example:
        >>> sample({"type": "object", "properties": {"a": {"type": "integer"}}}, "hi", 3)
        {'a': 3}
    """
    return _sample(schema, schema, text, n, 0)


def _resolve(root: Mapping[str, Any], ref: str) -> Any:
    node: Any = root
    for key in ref[2:].split("/") if ref.startswith("#/") else ():
        node = node.get(key, {}) if isinstance(node, Mapping) else {}
    return node


def _sample(node: Any, root: Mapping[str, Any], text: str, n: int, depth: int) -> Any:
    if not isinstance(node, Mapping):
        return text
    if "const" in node:
        return node["const"]
    enum = node.get("enum")
    if isinstance(enum, list) and enum:
        return enum[0]
    ref = node.get("$ref")
    if isinstance(ref, str):
        return _sample(_resolve(root, ref), root, text, n, depth + 1)
    for key in ("anyOf", "oneOf", "allOf"):
        variants = node.get(key)
        if isinstance(variants, list) and variants:
            usable = [
                v for v in variants if not (isinstance(v, Mapping) and v.get("type") == "null")
            ]
            if not usable or depth >= _MAX_DEPTH:
                return None
            return _sample(usable[0], root, text, n, depth + 1)
    kind = node.get("type")
    if isinstance(kind, list):
        kinds = [k for k in kind if k != "null"]
        if not kinds:
            return None
        kind = kinds[0]
    props = node.get("properties")
    if kind == "object" or isinstance(props, Mapping):
        if not isinstance(props, Mapping) or depth >= _MAX_DEPTH:
            return {}
        return {k: _sample(v, root, text, n, depth + 1) for k, v in props.items()}
    if kind == "array":
        count = node.get("minItems")
        if not isinstance(count, int) or count <= 0 or depth >= _MAX_DEPTH:
            return []
        return [_sample(node.get("items", {}), root, text, n, depth + 1) for _ in range(count)]
    if kind == "integer":
        return n
    if kind == "number":
        return float(n)
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return text

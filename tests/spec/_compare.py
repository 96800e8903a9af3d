"""Compare rawllm's declared Struct fields and types with a JSON schema, mechanically.

``compare(rawllm_type, schema, path)`` walks both at once and returns one line
per mismatch, each naming the JSON path:

- a property the schema declares and the Struct has no field for;
- a JSON kind (string, integer, number, boolean, array, object, null) the
  schema allows at a path and the rawllm type would refuse;
- a field rawllm requires that the schema says may be left out.

Unions of tagged objects are matched by their ``type`` tag; a schema variant
rawllm has no Struct for is not a mismatch (rawllm keeps such an object whole, as
an ``Unknown*`` object).  A rawllm field typed ``Any`` (or ``dict[str, Any]`` for
an object) accepts the whole subtree and ends the walk there.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import msgspec.inspect as mi

Schemas = dict[str, Any]
KINDS = ("string", "integer", "number", "boolean", "array", "object", "null")


class Walker:
    """One comparison run over a set of schemas (``components.schemas``)."""

    def __init__(
        self, schemas: Schemas, untyped: dict[str, str], on_field: Callable[[str], None]
    ) -> None:
        self.schemas = schemas
        self.untyped = untyped  # "Struct.field" -> why rawllm leaves it to to_dict()
        self.on_field = on_field  # called with the path of every field compared
        self.mismatches: list[str] = []
        self._seen: set[tuple[Any, str]] = set()

    # -- the schema side --------------------------------------------------------------

    def resolve(self, schema: Any) -> Any:
        while isinstance(schema, dict) and "$ref" in schema:
            schema = self.schemas[schema["$ref"].rsplit("/", 1)[1]]
        return schema

    def variants(self, schema: Any) -> list[Any]:
        """The alternatives of an anyOf / oneOf (flattened), or [schema]."""
        schema = self.resolve(schema)
        if not isinstance(schema, dict):
            return [schema]
        for key in ("anyOf", "oneOf"):
            if key in schema:
                out: list[Any] = []
                for sub in schema[key]:
                    out.extend(self.variants(sub))
                return out
        return [schema]

    def kinds(self, schema: Any) -> set[str]:
        kinds: set[str] = set()
        for v in self.variants(schema):
            kinds |= self._kinds_one(v)
        return kinds

    def _kinds_one(self, schema: Any) -> set[str]:
        if schema is True or schema == {}:
            return {"any"}
        if not isinstance(schema, dict):
            return {"any"}
        if "allOf" in schema:
            kinds: set[str] | None = None
            for sub in schema["allOf"]:
                k = self.kinds(sub)
                if "any" not in k:
                    kinds = k if kinds is None else kinds & k
            return kinds if kinds is not None else {"any"}
        typ = schema.get("type")
        if isinstance(typ, str):
            out = {typ}
        elif isinstance(typ, list):
            out = set(typ)
        elif "properties" in schema:
            out = {"object"}
        elif "enum" in schema or "const" in schema:
            values = schema.get("enum", [schema.get("const")])
            out = {_json_kind(v) for v in values}
        else:
            return {"any"}
        if schema.get("nullable"):
            out.add("null")
        return out

    def props(self, schema: Any) -> tuple[dict[str, Any], set[str]] | None:
        """Properties and required names of an object schema (allOf merged), or None."""
        schema = self.resolve(schema)
        if not isinstance(schema, dict):
            return None
        props: dict[str, Any] = {}
        required: set[str] = set()
        found = False
        for sub in schema.get("allOf", []):
            got = self.props(sub)
            if got is not None:
                found = True
                props.update(got[0])
                required |= got[1]
        if "properties" in schema:
            found = True
            props.update(schema["properties"])
            required |= set(schema.get("required", []))
        return (props, required) if found else None

    def tag(self, schema: Any) -> str | None:
        got = self.props(schema)
        if got is None or "type" not in got[0]:
            return None
        t = self.resolve(got[0]["type"])
        values = t.get("enum") if isinstance(t, dict) else None
        if values is None and isinstance(t, dict) and "const" in t:
            values = [t["const"]]
        return values[0] if values and len(values) == 1 else None

    # -- the rawllm side ---------------------------------------------------------------

    def rkinds(self, t: Any) -> set[str]:
        if isinstance(t, mi.UnionType):
            out: set[str] = set()
            for sub in t.types:
                out |= self.rkinds(sub)
            return out
        if isinstance(t, mi.AnyType):
            return {"any"}
        if isinstance(t, mi.StrType):
            return {"string"}
        if isinstance(t, mi.BoolType):
            return {"boolean"}
        if isinstance(t, mi.IntType):
            return {"integer"}
        if isinstance(t, mi.FloatType):
            return {"number", "integer"}
        if isinstance(t, mi.NoneType):
            return {"null"}
        if isinstance(t, (mi.ListType, mi.TupleType, mi.VarTupleType)):
            return {"array"}
        if isinstance(t, (mi.DictType, mi.StructType)):
            return {"object"}
        if isinstance(t, mi.LiteralType):
            return {_json_kind(v) for v in t.values}
        return {"any"}

    # -- the walk ----------------------------------------------------------------------

    def compare(self, t: Any, schema: Any, path: str) -> None:
        rk = self.rkinds(t)
        if "any" in rk:
            return
        sk = self.kinds(schema)
        for kind in sorted(sk):
            ok = kind in rk or (kind == "integer" and "number" in rk)
            if kind == "any":
                self.mismatches.append(f"{path}: the spec allows any JSON value; rawllm: {_k(rk)}")
            elif not ok:
                self.mismatches.append(f"{path}: the spec allows {kind}; rawllm accepts {_k(rk)}")
        members = list(t.types) if isinstance(t, mi.UnionType) else [t]
        structs = [m for m in members if isinstance(m, mi.StructType)]
        lists = [m for m in members if isinstance(m, mi.ListType)]
        if structs:
            self._objects(structs, schema, path)
        if lists:
            for v in self.variants(schema):
                if isinstance(v, dict) and v.get("type") == "array" and "items" in v:
                    self.compare(lists[0].item_type, v["items"], f"{path}[]")

    def _objects(self, structs: list[Any], schema: Any, path: str) -> None:
        tagged = {s.tag: s for s in structs if s.tag_field == "type" and s.tag is not None}
        for v in self.variants(schema):
            if self.props(v) is None:
                continue
            if tagged:
                tag = self.tag(v)
                struct = tagged.get(tag) if tag is not None else None
                if struct is None:
                    continue  # a kind rawllm keeps whole as Unknown*: not a mismatch
                self._fields(struct, v, f"{path}<{tag}>")
            else:
                self._fields(structs[0], v, path)

    def _fields(self, struct: Any, schema: Any, path: str) -> None:
        key = (struct.cls, _schema_key(schema))
        if key in self._seen:
            return
        self._seen.add(key)
        got = self.props(schema)
        assert got is not None
        props, required = got
        fields = {f.encode_name: f for f in struct.fields}
        name = struct.cls.__name__
        for prop, sub in props.items():
            if prop == "type" and struct.tag_field == "type":
                continue  # the tag: a ClassVar, checked by the union match
            where = f"{path}.{prop}"
            field = fields.get(prop)
            if field is None:
                if f"{name}.{prop}" not in self.untyped:
                    self.mismatches.append(f"{where}: in the spec, not in rawllm's {name}")
                continue
            self.on_field(where)
            if field.required and prop not in required:
                self.mismatches.append(f"{where}: optional in the spec, required by {name}")
            self.compare(field.type, sub, where)


def _k(kinds: set[str]) -> str:
    return " | ".join(sorted(kinds))


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _schema_key(schema: Any) -> str:
    return str(id(schema))


def iter_sse(text: str) -> Iterator[tuple[str, str]]:
    """(event, data) pairs of an SSE text example."""
    from rawllm.sse import SSEDecoder

    dec = SSEDecoder()
    for e in [*dec.feed(text.encode()), *dec.close()]:
        yield e.event, e.data

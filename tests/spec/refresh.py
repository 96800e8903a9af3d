"""Refresh ``openai_spec.json``: the schemas and examples of the endpoints rawllm covers.

The source is OpenAI's official OpenAPI spec (https://github.com/openai/openai-openapi,
MIT licence, Copyright (c) OpenAI).  This keeps only what rawllm's types are compared
with: the response schemas of chat completions (and their stream chunks),
embeddings, models and responses (and their stream events), every schema they
reference, and the operations' example responses.  Descriptions are dropped;
everything else is kept as published.

Usage (from the repository root)::

    python tests/spec/refresh.py PATH/TO/openapi.json [--commit SHA]

``PATH`` is a checkout (or export) of ``openapi.json`` from openai/openai-openapi.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
OUT = HERE / "openai_spec.json"

# (path, method): the operations rawllm calls.
OPERATIONS = [
    ("/chat/completions", "post"),
    ("/embeddings", "post"),
    ("/models", "get"),
    ("/models/{model}", "get"),
    ("/responses", "post"),
    ("/responses/{response_id}", "get"),
]
ROOTS = [
    "CreateChatCompletionResponse",
    "CreateChatCompletionStreamResponse",
    "CreateEmbeddingResponse",
    "ListModelsResponse",
    "Model",
    "Response",
    "ResponseStreamEvent",
]
_DROP = {"description", "title", "x-oaiMeta", "x-oaiExpandable", "x-oaiTypeLabel", "deprecated"}
_LICENSE = (
    "MIT License. Copyright (c) OpenAI (https://openai.com). Extract of "
    "https://github.com/openai/openai-openapi (openapi.json): response schemas and "
    "examples of the endpoints rawllm covers, descriptions removed."
)


def _refs(node: Any, out: set[str]) -> None:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            out.add(ref.rsplit("/", 1)[1])
        for value in node.values():
            _refs(value, out)
    elif isinstance(node, list):
        for value in node:
            _refs(value, out)


def _trim(node: Any, names: bool = False) -> Any:
    """Drop prose keys; ``names``: ``node`` maps property names, which are all kept."""
    if isinstance(node, dict):
        return {
            key: _trim(value, key == "properties" and not names)
            for key, value in node.items()
            if names or key not in _DROP
        }
    if isinstance(node, list):
        return [_trim(v) for v in node]
    return node


def _examples(spec: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for path, method in OPERATIONS:
        op = spec["paths"][path][method]
        examples = op.get("x-oaiMeta", {}).get("examples")
        if isinstance(examples, dict):
            examples = [examples]
        for example in examples or []:
            response = example.get("response")
            if isinstance(response, str):
                found.append(
                    {
                        "operation": f"{method.upper()} {path}",
                        "title": example.get("title", ""),
                        "response": response,
                    }
                )
    return found


def _schema_examples(schemas: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for name, schema in schemas.items():
        meta = schema.get("x-oaiMeta") if isinstance(schema, dict) else None
        example = meta.get("example") if isinstance(meta, dict) else None
        if isinstance(example, str):
            out[name] = example
    return out


def extract(spec: dict[str, Any], commit: str) -> dict[str, Any]:
    """The trimmed copy: the closure of ``ROOTS`` over ``$ref``, plus examples."""
    schemas = spec["components"]["schemas"]
    keep: set[str] = set()
    todo = list(ROOTS)
    while todo:
        name = todo.pop()
        if name in keep:
            continue
        keep.add(name)
        more: set[str] = set()
        _refs(schemas[name], more)
        todo.extend(more - keep)
    chosen = {name: schemas[name] for name in sorted(keep)}
    return {
        "source": "https://github.com/openai/openai-openapi",
        "commit": commit,
        "license": _LICENSE,
        "openapi_version": spec.get("info", {}).get("version"),
        "examples": _examples(spec),
        "schema_examples": _schema_examples(chosen),
        "schemas": {name: _trim(schema) for name, schema in chosen.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("openapi_json", type=Path)
    parser.add_argument("--commit", default="unknown", help="the openai-openapi commit")
    args = parser.parse_args()
    spec = json.loads(args.openapi_json.read_text(encoding="utf-8"))
    data = extract(spec, args.commit)
    OUT.write_text(json.dumps(data, indent=None, separators=(",", ":")) + "\n", encoding="utf-8")
    print(f"wrote {OUT} ({len(data['schemas'])} schemas, {len(data['examples'])} examples)")


if __name__ == "__main__":
    main()

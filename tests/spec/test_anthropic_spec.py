"""rawllm's Anthropic types against Anthropic's published types (anthropic_spec.json).

The reference is the response side of the Messages API as the official SDK
declares it (exported by ``refresh_anthropic.py``).  The same mechanical walk as
for the OpenAI spec (``_compare.Walker``): every property has a rawllm field
whose type accepts every JSON kind allowed there; tagged unions (content blocks,
deltas, stream events) are matched by tag, and a kind rawllm has no Struct for
is kept whole as an unknown block (not a mismatch).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec.inspect as mi
from _compare import Walker

from rawllm.types import anthropic as a

SPEC = json.loads((Path(__file__).parent / "anthropic_spec.json").read_text(encoding="utf-8"))
SCHEMAS: dict[str, Any] = SPEC["schemas"]

PAIRS = [
    (a.Message, "Message"),
    (a.MessageStreamEvent, "RawMessageStreamEvent"),
    (a.MessageTokensCount, "MessageTokensCount"),
]

# Fields rawllm leaves to ``to_dict()`` on purpose; each says why.
UNTYPED: dict[str, str] = {}


def _walk() -> tuple[list[str], list[str]]:
    compared: list[str] = []
    walker = Walker(SCHEMAS, UNTYPED, compared.append)
    for typ, name in PAIRS:
        walker.compare(mi.type_info(typ), SCHEMAS[name], f"{name}$")
    return walker.mismatches, compared


def test_rawllm_types_match_the_sdk_types() -> None:
    mismatches, compared = _walk()
    assert not mismatches, "\n".join(mismatches)
    assert len(compared) > 100  # the walk went deep
    assert "Message$.content[]<tool_use>.input" in compared
    assert "RawMessageStreamEvent$<content_block_delta>.delta<citations_delta>.citation" in compared

"""The benchmark's contenders make the same requests and read the same fields (not timed).

Every contender of ``benchmarks/contenders`` runs each of its calls once
against ``benchmarks.server`` in this process, with recording on.  The test
compares, contender by contender, what reached the server (method, path,
JSON body, the headers that carry the key and the API version) and what the
contender read from the answer (every value it stored, in order, and the
number of stream events it consumed) with the floor's.  When someone edits
one side of the comparison, this fails instead of the figures drifting.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.contenders import API_KEY, MODULES  # noqa: E402
from benchmarks.server import BenchServer  # noqa: E402

# Installed with the [test] extra, so always compared; the others when importable.
REQUIRED = ("floor", "floor_paced", "rawllm", "openai", "anthropic")
OPTIONAL = ("httpx", "openai_aiohttp")
OPS = ("chat", "chat_stream", "messages", "messages_stream")
PINGS = {"chat": 0, "chat_stream": 0, "messages": 0, "messages_stream": 1}
SENT_HEADERS = ("authorization", "x-api-key", "anthropic-version", "content-type")


def _importable(name: str) -> bool:
    try:
        importlib.import_module("benchmarks.contenders." + MODULES[name])
    except ImportError:
        return False
    return True


CONTENDERS = [*REQUIRED, *(n for n in OPTIONAL if _importable(n))]


async def _observe(name: str, op: str, cls: Any = None) -> dict[str, Any] | None:
    """What one call of ``op`` by contender ``name`` sent and read; None if it has no such API."""
    mod = importlib.import_module("benchmarks.contenders." + MODULES[name])
    if ("messages" if op.startswith("messages") else "chat") not in mod.APIS:
        return None
    srv = BenchServer("loose", chunks=12, record=True)
    url = await srv.start()
    reads: list[Any] = []
    # Every value the contender stores in .sink is a field it read from the answer.
    sink = property(lambda s: None, lambda s, v: reads.append(v))
    audited = type("Audited", (cls or mod.Client,), {"sink": sink})
    kwargs = {"pace": 1000.0} if getattr(mod, "PACED", False) else {}
    client = audited(url, 4, **kwargs)
    reads.clear()  # the constructor's `self.sink = None`
    try:
        await client.start()
        consumed = await getattr(client, op)()
    finally:
        await client.aclose()
        await srv.stop()
    (req,) = srv.requests
    return {
        "method": req.method,
        "path": req.path.partition("?")[0],
        "body": json.loads(req.body),
        "headers": {k: req.headers.get(k) for k in SENT_HEADERS if k in req.headers},
        "consumed": consumed,
        "reads": reads,
    }


def differences(floor: dict[str, Any], mine: dict[str, Any], op: str) -> list[str]:
    """How a contender's call differs from the floor's in what it sent or read."""
    out = []
    for key in ("method", "path", "body", "reads"):
        if mine[key] != floor[key]:
            out.append(f"{key}: {mine[key]!r} != floor's {floor[key]!r}")
    if not mine["headers"].get("content-type", "").startswith("application/json"):
        out.append(f"content-type: {mine['headers'].get('content-type')!r}")
    # The key is sent (Anthropic accepts x-api-key or a Bearer token; newer anthropic SDKs
    # send the latter and their own anthropic-version): the same work either way.
    sent = mine["headers"].get("x-api-key") or mine["headers"].get("authorization", "")
    if sent.removeprefix("Bearer ") != API_KEY:
        out.append("the API key is not sent")
    if op.startswith("messages") and not mine["headers"].get("anthropic-version"):
        out.append("no anthropic-version")
    # The floor counts every SSE event; a client may drop Anthropic's `ping` keep-alive
    # (which carries nothing).  The per-event divisor is the server's count either way.
    if not floor["consumed"] - PINGS[op] <= mine["consumed"] <= floor["consumed"]:
        out.append(f"consumed {mine['consumed']} items, the floor {floor['consumed']}")
    return out


_FLOOR: dict[str, dict[str, Any] | None] = {}  # plain data, so shared across event loops


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("name", [n for n in CONTENDERS if n != "floor"])
async def test_contender_sends_and_reads_what_the_floor_does(name: str, op: str) -> None:
    if op not in _FLOOR:
        _FLOOR[op] = await _observe("floor", op)
    floor = _FLOOR[op]
    mine = await _observe(name, op)
    assert floor is not None
    if mine is None:  # e.g. the openai SDK has no messages API: nothing to compare
        return
    assert mine["method"] == "POST"
    assert differences(floor, mine, op) == []


async def test_the_floor_reads_the_answer() -> None:
    """The reference itself: one read per body, one per text delta, every event counted."""
    chat = await _observe("floor", "chat")
    stream = await _observe("floor", "chat_stream")
    messages = await _observe("floor", "messages_stream")
    assert chat is not None and stream is not None and messages is not None
    assert chat["reads"] == ["Hello there, how are you today?"]
    assert chat["body"]["model"] == "gpt-4o-mini" and "stream" not in chat["body"]
    assert stream["body"]["stream"] is True
    # role chunk + 9 text deltas + finish chunk + usage chunk (12 events), [DONE] not counted
    assert stream["consumed"] == 12
    assert len(stream["reads"]) == 11  # the usage chunk has no choices
    # message_start, content_block_start, ping, 12 deltas, block stop, message_delta, stop
    assert messages["consumed"] == 18
    assert len(messages["reads"]) == 12 and None not in messages["reads"]


async def test_an_unfair_contender_is_caught() -> None:
    """A floor edited to ask for less and read less differs, field by field."""
    from benchmarks.contenders import floor as floor_mod

    class Unfair(floor_mod.Client):
        async def chat(self) -> int:
            assert self._session is not None
            params = {**floor_mod.CHAT_PARAMS, "max_tokens": 16}
            async with self._session.post(
                self._chat_url, data=json.dumps(params), headers=self._chat_headers
            ) as resp:
                await resp.read()  # decodes nothing, reads no field
            return 1

    floor = await _observe("floor", "chat")
    unfair = await _observe("floor", "chat", cls=Unfair)
    assert floor is not None and unfair is not None
    found = differences(floor, unfair, "chat")
    assert [d.split(":")[0] for d in found] == ["body", "reads"]

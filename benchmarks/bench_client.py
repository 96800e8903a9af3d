"""End to end: the cost of one call, rawllm against the SDKs and the floor.

Every contender runs in a fresh process (see ``benchmarks.contenders``)
against the same server process (``rawllm.testing``, pinned to its own core).
Scenarios:

* non-stream chat / messages at concurrency 1, 64 and 256: client CPU per request;
* streamed chat / messages (200 text deltas each) at concurrency 16: client
  CPU per stream event, i.e. the whole call's CPU divided by the number of SSE
  ``data`` events the server sends per stream (counted once, the same divisor
  for every contender whatever it skips);
* memory per in-flight request: 1,000 calls started at once against a server
  that holds every answer for a minute; once the client process is idle (all
  sent, all waiting) its resident set size minus the level after warm-up,
  divided by 1,000; then the calls are cancelled.  RSS rather than tracemalloc
  because tracemalloc misses memory that C extensions take outside Python's
  allocator (aiohttp's parser, buffers) and slows every allocation.

Wall throughput is recorded too, but the server shares the machine, so CPU is
the figure to compare.
"""

from __future__ import annotations

import time
import urllib.request
from dataclasses import dataclass
from typing import Any

from benchmarks import _harness as h
from benchmarks.contenders import (
    API_KEY,
    CHAT_PARAMS,
    CONTENDERS,
    MESSAGES_PARAMS,
)

POOL = 1000  # connections, all kept alive, for every contender
CHUNKS = 200  # text deltas per streamed answer
LATENCY = 60.0  # seconds the memory scenario's server holds each answer (calls are cancelled)
# the slowest contender runs fewer timed calls per repetition (same warm-up), to keep the
# full run near 10 minutes; per-call figures do not depend on the count
SCALE = {"litellm": 0.5}
QUICK_CONTENDERS = ("floor", "rawllm", "openai", "anthropic")
# httpx's pool scans every connection per request: 1,000 in flight costs it ~90 s of CPU
MEMORY_EXCLUDED = {"httpx": "1,000 in flight take httpcore's pool ~90 s of CPU per run"}


@dataclass(frozen=True)
class Scenario:
    id: str
    title: str
    op: str
    concurrency: int
    requests: int
    warmup: int
    kind: str = "throughput"

    @property
    def unit(self) -> str:
        if self.kind == "memory":
            return "KiB per request in flight"
        return "event" if self.op.endswith("_stream") else "request"

    @property
    def api(self) -> str:
        return "messages" if self.op.startswith("messages") else "chat"

    def spec(self, scale: float = 1.0) -> dict[str, Any]:
        d: dict[str, Any] = {
            "id": self.id,
            "kind": self.kind,
            "op": self.op,
            "concurrency": self.concurrency,
            "requests": self.requests if self.kind == "memory" else int(self.requests * scale),
            "warmup": self.warmup,
        }
        if self.kind == "memory":
            d["inflight"] = self.requests
            d["alt_op"] = "messages"
        return d


def scenarios(quick: bool) -> list[Scenario]:
    """Throughput scenarios; sizes give the floor about 0.1-0.3 s of CPU per repetition."""
    # (suffix, op suffix, concurrency, (quick, full) timed calls, (quick, full) warm-up)
    shapes = (
        ("c1", "", 1, (100, 250), (30, 50)),
        ("c64", "", 64, (320, 640), (128, 192)),
        ("c256", "", 256, (512, 768), (256, 512)),
        ("stream_c16", "_stream", 16, (24, 32), (16, 16)),
    )
    out = []
    for api, label in (("chat", "chat completions"), ("messages", "Anthropic messages")):
        for suffix, op, conc, calls, warm in shapes:
            if quick and conc == 256:  # about a minute: concurrency 256 in the full run only
                continue
            kind = f"streamed ({CHUNKS} deltas)" if op else "non-stream"
            out.append(
                Scenario(
                    f"{api}_{suffix}",
                    f"{label}, {kind}, concurrency {conc}",
                    api + op,
                    conc,
                    calls[0] if quick else calls[1],
                    warm[0] if quick else warm[1],
                )
            )
    return out


def memory_scenario() -> Scenario:
    return Scenario(
        "memory",
        "memory per in-flight request (1,000 in flight)",
        "chat",
        1000,
        1000,
        8,
        kind="memory",
    )


def events_per_stream(root: str) -> dict[str, int]:
    """SSE data events in one streamed answer of each API (the per-event divisor)."""
    out = {}
    for api, path, params, headers in (
        ("chat", "/v1/chat/completions", CHAT_PARAMS, {"Authorization": f"Bearer {API_KEY}"}),
        (
            "messages",
            "/v1/messages",
            MESSAGES_PARAMS,
            {"x-api-key": API_KEY, "anthropic-version": "2023-06-01"},
        ),
    ):
        import json

        body = json.dumps({**params, "stream": True}).encode()
        req = urllib.request.Request(
            root + path, data=body, headers={**headers, "Content-Type": "application/json"}
        )
        with urllib.request.urlopen(req, timeout=30) as resp:
            data = resp.read()
        out[api] = sum(1 for line in data.splitlines() if line.startswith(b"data:"))
    return out


def run(
    quick: bool = False,
    contenders: list[str] | None = None,
    only: str | None = None,
    repetitions: int | None = None,
    memory: bool | None = None,
) -> dict[str, Any]:
    """Run the client scenarios; returns a JSON-able dict (see ``benchmarks.report``).

    Args:
        quick: smaller counts, four contenders, no concurrency 256, no memory.
        contenders: names from ``benchmarks.contenders.CONTENDERS``.
        only: run only scenarios whose id contains this string.
        repetitions: rounds over all contenders (interleaved; default 3 quick, 5 full);
            the memory scenario, whose spread is small, runs at most 3.
        memory: run the memory scenario (default: not when quick).
    """
    names = list(contenders or (QUICK_CONTENDERS if quick else CONTENDERS))
    if repetitions is None:
        repetitions = 3 if quick else 5
    server_cpus, client_cpus = h.cpu_layout()
    scs = [s for s in scenarios(quick) if only is None or only in s.id]
    mem = memory_scenario()
    if memory is None:
        memory = not quick
    do_memory = memory and (only is None or only in mem.id)

    out: dict[str, Any] = {
        "pinning": {"server": server_cpus, "client": client_cpus},
        "pool": POOL,
        "repetitions": repetitions,
        "scenarios": {},
        "versions": {},
        "skipped": {},
        "errors": {},
    }
    samples: dict[str, dict[str, dict[str, list[float]]]] = {s.id: {} for s in [*scs, mem]}
    per_stream: dict[str, int] = {}

    def collect(ans: dict[str, Any], group: list[Scenario]) -> None:
        name = ans["contender"]
        if "versions" in ans:
            out["versions"][name] = ans["versions"]
        if ans.get("skipped"):
            out["skipped"][name] = ans["skipped"]
            return
        if ans.get("error"):
            out["errors"].setdefault(name, []).append(ans["error"])
        for sc in group:
            res = ans["results"].get(sc.id)
            if res is None:
                continue
            if "error" in res:
                out["errors"].setdefault(name, []).append(f"{sc.id}: {res['error']}")
                continue
            d = samples[sc.id].setdefault(name, {"cpu": [], "tput": [], "kib": []})
            if sc.kind == "memory":
                d["kib"].append(res["bytes_per_request"] / 1024)
                continue
            ops = res["requests"] * (per_stream[sc.api] if sc.unit == "event" else 1)
            d["cpu"].append(res["cpu_s"] / ops * 1e6)
            d["tput"].append(ops / res["wall_s"])

    def rounds(
        srv: h.Server,
        group: list[Scenario],
        reps: int,
        label: str,
        skip: dict[str, str],
        warm_root: str,
    ) -> None:
        for r in range(reps):
            for name in h.rotated(names, r):
                if name in out["skipped"] or name in skip:
                    continue
                spec = {
                    "root": srv.url,
                    "warm_root": warm_root,
                    "pool": POOL,
                    "scenarios": [s.spec(SCALE.get(name, 1.0)) for s in group],
                }
                t0 = time.perf_counter()
                collect(h.run_child(name, spec, client_cpus), group)
                h.progress(f"{label} {r + 1}/{reps} {name}: {time.perf_counter() - t0:.1f} s")

    with h.Server(chunks=CHUNKS, cpus=server_cpus) as fast:
        per_stream.update(events_per_stream(fast.url))
        if scs:
            rounds(fast, scs, repetitions, "client", {}, fast.url)
        if do_memory:
            with h.Server(chunks=CHUNKS, latency=LATENCY, cpus=server_cpus) as slow:
                rounds(slow, [mem], min(repetitions, 3), "memory", MEMORY_EXCLUDED, fast.url)
            out["memory_excluded"] = {n: r for n, r in MEMORY_EXCLUDED.items() if n in names}
    out["events_per_stream"] = per_stream

    for sc in [*scs, mem] if do_memory else scs:
        entry: dict[str, Any] = {
            "title": sc.title,
            "api": sc.api,
            "unit": sc.unit,
            "kind": sc.kind,
            "concurrency": sc.concurrency,
            "requests": sc.requests,
            "contenders": {},
        }
        if sc.kind == "memory":
            entry["server_latency_s"] = LATENCY
        for name, d in samples[sc.id].items():
            if sc.kind == "memory" and d["kib"]:
                entry["contenders"][name] = {"kib": h.summarize(d["kib"])}
            elif d["cpu"]:
                entry["contenders"][name] = {
                    "cpu_us": h.summarize(d["cpu"]),
                    "per_s": h.summarize(d["tput"]),
                }
        out["scenarios"][sc.id] = entry
    return out

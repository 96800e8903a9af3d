"""End to end: the cost of one call, rawllm against the SDKs and the floor.

Every contender runs in a fresh process (see ``benchmarks.contenders``)
against the same server process (``benchmarks.server``, pinned to its own
core), once per header mode of the server (``none``: no rate-limit headers,
as vLLM and most proxies; ``loose``: the providers' full header sets with
limits far above the load; ``binding``: as a large OpenAI account sends them,
30,000 requests per minute, where ``floor_paced`` joins).  Scenarios:

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
from benchmarks.server import LIMITS, MODES

POOL = 1000  # connections, all kept alive, for every contender
CHUNKS = 200  # text deltas per streamed answer
LATENCY = 60.0  # seconds the memory scenario's server holds each answer (calls are cancelled)
# the slower contenders run fewer timed calls per repetition (same warm-up), to keep the
# full run near 10 minutes; per-call figures do not depend on the count
SCALE = {"litellm": 0.15, "openai": 0.25, "openai_aiohttp": 0.25, "anthropic": 0.25, "httpx": 0.25}
QUICK_CONTENDERS = ("floor", "floor_paced", "rawllm", "openai", "anthropic")
# where the server sends rate-limit headers, only these run (the peers, in "none", show the
# rest); floor_paced runs only where the advertised limit binds
HEADLINE = ("floor", "floor_paced", "rawllm", "openai", "anthropic")
PACE = LIMITS["binding"]["openai"][0] / 60.0  # requests per second the binding headers allow
# Repetitions of the contenders other than the floor, the paced floor and rawllm (whose
# ratios are the headline and get them all): the SDKs' and other peers' distance from the
# floor (several times) is far larger than their spread, and they cost the most to run.
PEER_REPETITIONS = {"none": 3, "loose": 1, "binding": 1, "memory": 1}
OTHER_PEER_REPETITIONS = 1  # httpx, openai_aiohttp, litellm (run without rate headers only)
CORE = ("floor", "floor_paced", "rawllm")
WITH_C256 = False  # the peers at concurrency 256 (off: the full run's time budget)
CALLS_FACTOR = 1
"""Multiplies every scenario's timed calls (``--calls-factor``): longer repetitions average
out a shared machine's short stalls, at the cost of run time."""
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
    headers: str = "none"

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


MODE_TITLES = {
    "none": "no rate-limit headers",
    "loose": "real headers, limits far above the load",
    "binding": "real headers, 30,000 requests/min (binding)",
}


def scenarios(quick: bool, mode: str = "none") -> list[Scenario]:
    """Throughput scenarios; sizes give the floor about 0.1-0.3 s of CPU per repetition.

    Ids: ``chat_c64`` (no rate-limit headers), ``chat_c64_loose``, ``chat_c64_binding``.
    """
    # (suffix, op suffix, concurrency, (quick, full) timed calls, (quick, full) warm-up)
    shapes = (
        ("c1", "", 1, (100, 250), (30, 50)),
        ("c64", "", 64, (320, 640), (128, 192)),
        ("c256", "", 256, (512, 768), (256, 512)),
        ("stream_c16", "_stream", 16, (48, 96), (16, 16)),
    )
    out = []
    for api, label in (("chat", "chat completions"), ("messages", "Anthropic messages")):
        for suffix, op, conc, calls, warm in shapes:
            if conc == 256 and (quick or mode != "none" or not WITH_C256):
                continue  # concurrency from 1 to 1,024: bench_scale's sweep
            kind = f"streamed ({CHUNKS} deltas)" if op else "non-stream"
            tail = "" if mode == "none" else f"_{mode}"
            title = f"{label}, {kind}, concurrency {conc}"
            out.append(
                Scenario(
                    f"{api}_{suffix}{tail}",
                    title if mode == "none" else f"{title}; {MODE_TITLES[mode]}",
                    api + op,
                    conc,
                    (calls[0] if quick else calls[1]) * CALLS_FACTOR,
                    warm[0] if quick else warm[1],
                    headers=mode,
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
    import json

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
        body = json.dumps({**params, "stream": True}).encode()
        req = urllib.request.Request(
            root + path, data=body, headers={**headers, "Content-Type": "application/json"}
        )
        with urllib.request.urlopen(req, timeout=30) as resp:
            data = resp.read()
        out[api] = sum(1 for line in data.splitlines() if line.startswith(b"data:"))
    return out


def contenders_for(mode: str, names: list[str]) -> list[str]:
    """Who runs in a header mode: everyone without headers, the headline set with them."""
    out = [n for n in names if mode == "none" or n in HEADLINE]
    if mode != "binding":
        out = [n for n in out if n != "floor_paced"]
    return out


def run(
    quick: bool = False,
    contenders: list[str] | None = None,
    only: str | None = None,
    repetitions: int | None = None,
    memory: bool | None = None,
    modes: tuple[str, ...] = MODES,
) -> dict[str, Any]:
    """Run the client scenarios; returns a JSON-able dict (see ``benchmarks.report``).

    Args:
        quick: smaller counts, five contenders, no concurrency 256, no memory.
        contenders: names from ``benchmarks.contenders.CONTENDERS``.
        only: run only scenarios whose id contains this string.
        repetitions: rounds over the floor, floor_paced and rawllm (interleaved; default 3
            quick, 5 full); the SDKs and other peers run at most ``PEER_REPETITIONS``,
            the memory scenario at most 3.
        memory: run the memory scenario (default: not when quick).
        modes: the server's header modes to run (see ``benchmarks.server``).
    """
    names = list(contenders or (QUICK_CONTENDERS if quick else CONTENDERS))
    if repetitions is None:
        repetitions = 3 if quick else 5
    server_cpus, client_cpus = h.cpu_layout()
    by_mode = {m: [s for s in scenarios(quick, m) if only is None or only in s.id] for m in modes}
    mem = memory_scenario()
    if memory is None:
        memory = not quick
    do_memory = memory and (only is None or only in mem.id)

    out: dict[str, Any] = {
        "pinning": {"server": server_cpus, "client": client_cpus},
        "pool": POOL,
        "repetitions": repetitions,
        "calls_factor": CALLS_FACTOR,
        "peer_repetitions": {m: min(repetitions, n) for m, n in PEER_REPETITIONS.items()},
        "other_peer_repetitions": min(repetitions, OTHER_PEER_REPETITIONS),
        "pace_per_s": PACE,
        "scenarios": {},
        "versions": {},
        "skipped": {},
        "errors": {},
    }
    all_scs = [s for m in modes for s in by_mode[m]]
    samples: dict[str, dict[str, dict[str, list[float]]]] = {s.id: {} for s in [*all_scs, mem]}
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
        who: list[str],
        label: str,
        skip: dict[str, str],
        warm_root: str,
    ) -> None:
        def reps_for(name: str) -> int:
            if name in CORE:
                return reps
            if name in ("openai", "anthropic"):
                return min(reps, PEER_REPETITIONS[label])
            return min(reps, OTHER_PEER_REPETITIONS, PEER_REPETITIONS[label])

        for r in range(reps):
            this = [n for n in who if r < reps_for(n)]
            for name in h.rotated(this, r):
                if name in out["skipped"] or name in skip:
                    continue
                spec = {
                    "root": srv.url,
                    "warm_root": warm_root,
                    "pool": POOL,
                    "pace": PACE,
                    "scenarios": [s.spec(SCALE.get(name, 1.0)) for s in group],
                }
                t0 = time.perf_counter()
                collect(h.run_child(name, spec, client_cpus), group)
                h.progress(f"{label} {r + 1}/{reps} {name}: {time.perf_counter() - t0:.1f} s")

    for mode in modes:
        scs = by_mode[mode]
        mem_here = do_memory and mode == "none"
        if not scs and not mem_here:
            continue
        with h.Server(chunks=CHUNKS, cpus=server_cpus, headers=mode) as fast:
            if not per_stream:
                per_stream.update(events_per_stream(fast.url))
            if scs:
                who = contenders_for(mode, names)
                rounds(fast, scs, repetitions, who, mode, {}, fast.url)
            if mem_here:
                with h.Server(chunks=CHUNKS, latency=LATENCY, cpus=server_cpus) as slow:
                    who = [n for n in names if n != "floor_paced"]
                    rounds(slow, [mem], 1, who, "memory", MEMORY_EXCLUDED, fast.url)
                out["memory_excluded"] = {n: r for n, r in MEMORY_EXCLUDED.items() if n in names}
    out["events_per_stream"] = per_stream

    for sc in [*all_scs, mem] if do_memory else all_scs:
        entry: dict[str, Any] = {
            "title": sc.title,
            "api": sc.api,
            "unit": sc.unit,
            "kind": sc.kind,
            "headers": sc.headers,
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

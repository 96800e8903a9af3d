"""Cost as work grows: concurrency sweep, memory in flight, 10,000 streams, uvloop.

Every measurement runs in a fresh client process pinned to its own core,
against ``benchmarks.server`` pinned to the other (no rate-limit headers):

* **sweep**: client CPU per non-stream chat call at concurrency 1 to 1,024
  (pool as large as the concurrency, every connection opened in warm-up);
* **memory**: RSS growth per call with 1,000 and 10,000 calls in flight
  against a server that holds every answer for a minute (pool as large),
  started 250 every 50 ms;
* **swarm**: 10,000 streams open at once in one process (started 250 every
  50 ms, 5,000/s) against a server that sends 20 text deltas 250 ms apart (a
  model at 4 tokens/s, so every stream is still open when the last starts):
  CPU per event, peak RSS, time to first event at p50 and p99;
* **uvloop**: the floor and rawllm on asyncio's loop and on uvloop's,
  non-stream at concurrency 64 and streamed at 16.

The throughput ceiling of one core (calls/s, events/s) is 1 / CPU per call
from the client section; it needs no extra run.
"""

from __future__ import annotations

import time
from typing import Any

from benchmarks import _harness as h
from benchmarks.bench_client import CHUNKS, events_per_stream

WHO = ("floor", "rawllm")
SWEEP = (1, 4, 16, 64, 256, 1024)
QUICK_SWEEP = (1, 16, 256)
INFLIGHT = (1_000, 10_000)
SWARM_STREAMS = 10_000
SWARM_DELTAS = 20  # text deltas per stream
SWARM_GAP = 0.25  # seconds between a stream's events: each stream lasts ~5 s
RAMP = 250  # calls started every 50 ms (5,000/s) in the memory and swarm parts
HOLD = 60.0  # seconds the memory scenario's server holds each answer


def _sweep_spec(c: int, quick: bool) -> dict[str, Any]:
    n = max(200, 2 * c) if quick else max(400, 3 * c)
    return {
        "id": f"c{c}",
        "kind": "throughput",
        "op": "chat",
        "concurrency": c,
        "requests": n,
        "warmup": max(c, 50),
    }


def _interleaved(
    who: tuple[str, ...],
    reps: int,
    root: str,
    pool: int,
    scenarios: list[dict[str, Any]],
    label: str,
    warm_root: str | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """Run every contender ``reps`` times, in rotated order; their answers by contender."""
    _, client_cpus = h.cpu_layout()
    out: dict[str, list[dict[str, Any]]] = {n: [] for n in who}
    for r in range(reps):
        for name in h.rotated(list(who), r):
            spec = {"root": root, "warm_root": warm_root or root, "pool": pool, "pace": 1.0}
            spec["scenarios"] = scenarios
            t0 = time.perf_counter()
            ans = h.run_child(name, spec, client_cpus)
            out[name].append(ans)
            h.progress(f"{label} {r + 1}/{reps} {name}: {time.perf_counter() - t0:.1f} s")
    return out


def _errors(answers: dict[str, list[dict[str, Any]]]) -> dict[str, list[str]]:
    errs: dict[str, list[str]] = {}
    for name, lst in answers.items():
        for ans in lst:
            if ans.get("error") or ans.get("skipped"):
                errs.setdefault(name, []).append(str(ans.get("error") or ans.get("skipped")))
            for sid, res in ans.get("results", {}).items():
                if "error" in res:
                    errs.setdefault(name, []).append(f"{sid}: {res['error']}")
    return errs


def sweep(quick: bool) -> dict[str, Any]:
    server_cpus, _ = h.cpu_layout()
    concs = QUICK_SWEEP if quick else SWEEP
    reps = 1 if quick else 2
    scs = [_sweep_spec(c, quick) for c in concs]
    with h.Server(cpus=server_cpus) as srv:
        ans = _interleaved(WHO, reps, srv.url, max(concs), scs, "sweep")
    table: dict[str, dict[str, Any]] = {}
    for name, lst in ans.items():
        for sc in scs:
            cpu = [
                a["results"][sc["id"]]["cpu_s"] / sc["requests"] * 1e6
                for a in lst
                if "cpu_s" in a.get("results", {}).get(sc["id"], {})
            ]
            wall = [
                sc["requests"] / a["results"][sc["id"]]["wall_s"]
                for a in lst
                if "wall_s" in a.get("results", {}).get(sc["id"], {})
            ]
            if cpu:
                table.setdefault(str(sc["concurrency"]), {})[name] = {
                    "cpu_us": h.summarize(cpu),
                    "per_s": h.summarize(wall),
                }
    return {"repetitions": reps, "results": table, "errors": _errors(ans)}


def memory(quick: bool) -> dict[str, Any]:
    server_cpus, _ = h.cpu_layout()
    counts = INFLIGHT[:1] if quick else INFLIGHT
    out: dict[str, Any] = {
        "server_hold_s": HOLD,
        "ramp_per_s": RAMP / 0.05,
        "results": {},
        "errors": {},
    }
    with h.Server(cpus=server_cpus) as fast, h.Server(cpus=server_cpus, latency=HOLD) as slow:
        for n in counts:
            sc = {
                "id": f"inflight{n}",
                "kind": "memory",
                "op": "chat",
                "concurrency": n,
                "requests": n,
                "inflight": n,
                "warmup": 8,
                "batch": RAMP,
            }
            reps = 1
            ans = _interleaved(WHO, reps, slow.url, n, [sc], f"memory {n:,}", fast.url)
            for name, lst in ans.items():
                kib = [
                    a["results"][sc["id"]]["bytes_per_request"] / 1024
                    for a in lst
                    if "bytes_per_request" in a.get("results", {}).get(sc["id"], {})
                ]
                if kib:
                    out["results"].setdefault(str(n), {})[name] = {
                        "kib": h.summarize(kib),
                        "repetitions": reps,
                    }
            out["errors"].update(_errors(ans))
    return out


def swarm(quick: bool) -> dict[str, Any]:
    server_cpus, _ = h.cpu_layout()
    n = 1_000 if quick else SWARM_STREAMS
    sc = {
        "id": "swarm",
        "kind": "swarm",
        "op": "chat_stream",
        "streams": n,
        "warmup": 16,
        "batch": RAMP,
    }
    out: dict[str, Any] = {
        "streams": n,
        "deltas": SWARM_DELTAS,
        "gap_s": SWARM_GAP,
        "ramp_per_s": RAMP / 0.05,
        "results": {},
    }
    with h.Server(cpus=server_cpus, chunks=SWARM_DELTAS, event_gap=SWARM_GAP) as srv:
        ans = _interleaved(WHO, 1, srv.url, n, [sc], f"swarm {n:,}")
    for name, lst in ans.items():
        res = lst[0].get("results", {}).get("swarm")
        if res and "cpu_s" in res:
            res["cpu_us_per_event"] = res["cpu_s"] / max(1, res["events"]) * 1e6
            res["rss_mib"] = (res["rss_peak"] - res["rss_base"]) / 2**20
            out["results"][name] = res
    out["errors"] = _errors(ans)
    return out


def uvloop_gain(quick: bool) -> dict[str, Any]:
    try:
        import uvloop  # noqa: F401
    except ImportError as exc:
        return {"skipped": f"uvloop is not installed ({exc}); pip install 'rawllm[speed]'"}
    server_cpus, _ = h.cpu_layout()
    who = ("floor", "floor+uvloop", "rawllm", "rawllm+uvloop")
    scs = [
        {"id": "chat_c64", "kind": "throughput", "op": "chat", "concurrency": 64,
         "requests": 320 if quick else 640, "warmup": 128},
        {"id": "chat_stream_c16", "kind": "throughput", "op": "chat_stream", "concurrency": 16,
         "requests": 24 if quick else 48, "warmup": 16},
    ]  # fmt: skip
    reps = 1 if quick else 2
    with h.Server(cpus=server_cpus, chunks=CHUNKS) as srv:
        per_stream = events_per_stream(srv.url)["chat"]
        ans = _interleaved(who, reps, srv.url, 1000, scs, "uvloop")
    table: dict[str, dict[str, Any]] = {}
    for name, lst in ans.items():
        for sc in scs:
            div = sc["requests"] * (per_stream if sc["op"].endswith("_stream") else 1)
            cpu = [
                a["results"][sc["id"]]["cpu_s"] / div * 1e6
                for a in lst
                if "cpu_s" in a.get("results", {}).get(sc["id"], {})
            ]
            if cpu:
                table.setdefault(sc["id"], {})[name] = {"cpu_us": h.summarize(cpu)}
    return {"repetitions": reps, "results": table, "errors": _errors(ans)}


def run(quick: bool = False) -> dict[str, Any]:
    """All four parts; a part that fails is reported as skipped, the others still run."""
    out: dict[str, Any] = {}
    for part, fn in (
        ("sweep", sweep),
        ("memory", memory),
        ("swarm", swarm),
        ("uvloop", uvloop_gain),
    ):
        t0 = time.perf_counter()
        try:
            out[part] = fn(quick)
        except Exception as exc:  # one broken part must not lose the others
            out[part] = {"skipped": f"{type(exc).__name__}: {exc}"[:300]}
        h.progress(f"scale/{part} done in {time.perf_counter() - t0:.0f} s")
    return out

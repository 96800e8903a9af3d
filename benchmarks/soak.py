"""Soak test: many mixed calls and streams against a misbehaving mock, watching for leaks.

Every request is a call or a stream of one of the three APIs (chat
completions, Anthropic messages, Responses), and a share of them carry a
fault script (``x-mock-faults``) of every kind the mock can make: 429 with and
without Retry-After, 500/503/529, connection resets before and after the
headers, stalls, malformed and wrongly shaped bodies, an HTML 502, streams cut,
broken by an error event, or stalled after N events.  Some tasks are cancelled
mid-flight.

It reports how each request ended (success, typed ``rawllm.APIError``,
cancelled, and the two that must stay zero: an *untyped* exception and a
*hung* call that no rawllm timeout ended), wrong answers (a success whose text
differs from the clean answer: a truncated stream returned as complete would
show here), and, over time, open file descriptors, RSS and pooled
connections.

Examples::

    python -m benchmarks.soak                          # 20,000 requests, 64 at a time
    python -m benchmarks.soak --requests 50000 --fault-rate 0.05 --json soak.json
    python -m benchmarks.soak --requests 2000 --quiet  # a quick check
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import sys
import time
from collections import Counter
from typing import Any

import rawllm
from rawllm.testing import MockServer

# Every fault kind of the mock (docs/testing.md), with what must happen:
# each either ends in a success (the retry got through) or in a typed error.
FAULTS = [
    "429:retry-after=0",
    "429:retry-after-ms=10",
    "429",
    "500",
    "503:x-should-retry=true",
    "529",
    "408",
    "reset",
    "reset-after-headers",
    "stall=0.5",
    "malformed",
    "badshape",
    "html502",
    "400",
    "cut@3",
    "error@2",
    "error@1=overloaded_error",
    "stall@2=0.5",
]
KINDS = ["chat", "chat-stream", "messages", "messages-stream", "responses", "responses-stream"]
TOKENS = 8
HARD_LIMIT = 10.0  # seconds: a request still running after this counts as hung


def _fds() -> int:
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:  # pragma: no cover - not Linux
        return -1


def _rss_mb() -> float:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:  # pragma: no cover - not Linux
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _connections(*clients: Any) -> tuple[int, int]:
    """(checked out, idle) connections across the clients' pools (aiohttp internals)."""
    busy = idle = 0
    for c in clients:
        sessions = c._shared.transport._sessions
        session = sessions.peek() if sessions is not None else None
        connector = session.connector if session is not None else None
        if connector is None:
            continue
        busy += len(connector._acquired)
        idle += sum(len(v) for v in connector._conns.values())
    return busy, idle


async def _one(
    kind: str,
    openai: rawllm.OpenAI,
    anthropic: rawllm.Anthropic,
    headers: dict[str, str],
    read: float | None = None,
) -> str:
    """Run one request; return the answer text."""
    if read is not None:  # a stall fault: a short read timeout ends it
        t = openai.timeout
        t = rawllm.Timeout(connect=t.connect, read=read, total=t.total)
        openai = openai.with_options(timeout=t)
        anthropic = anthropic.with_options(timeout=t)
    msgs = [{"role": "user", "content": "hi"}]
    if kind == "chat":
        r = await openai.chat.completions.create(model="m", messages=msgs, extra_headers=headers)
        return r.choices[0].message.content or ""
    if kind == "messages":
        m = await anthropic.messages.create(
            model="m", max_tokens=64, messages=msgs, extra_headers=headers
        )
        return "".join(getattr(b, "text", "") for b in m.content)
    if kind == "responses":
        resp = await openai.responses.create(model="m", input="hi", extra_headers=headers)
        return resp.output_text
    if kind == "chat-stream":
        s = await openai.chat.completions.create(
            model="m", messages=msgs, stream=True, extra_headers=headers
        )
        async with s:
            final = await s.get_final()
        return final.choices[0].message.content or ""
    if kind == "messages-stream":
        s = await anthropic.messages.create(
            model="m", max_tokens=64, messages=msgs, stream=True, extra_headers=headers
        )
        async with s:
            final = await s.get_final()
        return "".join(getattr(b, "text", "") for b in final.content)
    s = await openai.responses.create(model="m", input="hi", stream=True, extra_headers=headers)
    async with s:
        final = await s.get_final()
    return str(final.output_text)


async def soak(
    *,
    requests: int = 20_000,
    concurrency: int = 64,
    fault_rate: float = 0.05,
    cancel_rate: float = 0.01,
    seed: int = 1,
    samples: int = 10,
    quiet: bool = False,
    deadline: float = 5.0,
) -> dict[str, Any]:
    """Run the soak; returns the report (see the module docstring).

    ``deadline`` is each call's ``Timeout.total``: a 429 slows the whole client
    down (by design), so under many 429s calls wait in the limiter and some
    end in ``APITimeoutError``, a typed ending.
    """
    rng = random.Random(seed)
    timeout = rawllm.Timeout(connect=5, read=10, total=deadline)
    async with MockServer(tokens=TOKENS, record=False) as server:
        openai = rawllm.OpenAI(
            api_key="sk-soak", base_url=server.url + "/v1", timeout=timeout, max_retries=2
        )
        anthropic = rawllm.Anthropic(
            api_key="sk-soak", base_url=server.url, timeout=timeout, max_retries=2
        )
        async with openai, anthropic:
            clean = {k: await _one(k, openai, anthropic, {}) for k in KINDS}
            ends: Counter[str] = Counter()
            errors: Counter[str] = Counter()
            untyped: list[str] = []
            series: list[dict[str, Any]] = []
            done = 0
            started = time.monotonic()
            every = max(1, requests // samples)

            def sample() -> None:
                busy, idle = _connections(openai, anthropic)
                point = {
                    "done": done,
                    "seconds": round(time.monotonic() - started, 2),
                    "fds": _fds(),
                    "rss_mb": round(_rss_mb(), 1),
                    "connections_busy": busy,
                    "connections_idle": idle,
                }
                series.append(point)
                if not quiet:
                    print(json.dumps(point), file=sys.stderr)

            sample()
            sem = asyncio.Semaphore(concurrency)

            async def task(i: int) -> None:
                nonlocal done
                kind = KINDS[i % len(KINDS)]
                headers = {"x-mock-key": f"soak-{seed}-{i}"}
                fault = None
                if rng.random() < fault_rate:
                    fault = rng.choice(FAULTS)
                    headers["x-mock-faults"] = fault
                cancel_after = rng.random() * 0.05 if rng.random() < cancel_rate else None
                async with sem:
                    read = 0.2 if fault and fault.startswith("stall") else None
                    work = asyncio.ensure_future(_one(kind, openai, anthropic, headers, read))
                    try:
                        if cancel_after is not None:
                            await asyncio.sleep(cancel_after)
                            work.cancel()
                        text = await asyncio.wait_for(work, HARD_LIMIT)
                    except asyncio.CancelledError:
                        if cancel_after is None:
                            raise
                        ends["cancelled"] += 1
                    except TimeoutError as exc:
                        if isinstance(exc, rawllm.APIError):
                            ends["typed_error"] += 1
                            errors[type(exc).__name__] += 1
                        else:
                            ends["hung"] += 1
                    except rawllm.APIError as exc:
                        ends["typed_error"] += 1
                        errors[type(exc).__name__] += 1
                    except Exception as exc:
                        ends["untyped_error"] += 1
                        untyped.append(f"{kind} {fault}: {type(exc).__name__}: {exc}"[:300])
                    else:
                        ends["success"] += 1
                        if text != clean[kind]:
                            ends["wrong_answer"] += 1
                            untyped.append(f"{kind} {fault}: wrong answer {text[:80]!r}")
                done += 1
                if done % every == 0:
                    sample()

            await asyncio.gather(*(task(i) for i in range(requests)))
            await asyncio.sleep(0.05)  # let cancelled tasks' cleanup run
            sample()
            busy_at_end, _ = _connections(openai, anthropic)
    warm = series[1] if len(series) > 2 else series[0]
    last = series[-1]
    return {
        "requests": requests,
        "concurrency": concurrency,
        "fault_rate": fault_rate,
        "seconds": round(time.monotonic() - started, 2),
        "ends": {
            k: ends.get(k, 0)
            for k in (
                "success",
                "typed_error",
                "cancelled",
                "untyped_error",
                "hung",
                "wrong_answer",
            )
        },
        "typed_errors": dict(errors.most_common()),
        "untyped_examples": untyped[:10],
        "connections_busy_at_end": busy_at_end,
        "fd_growth": last["fds"] - warm["fds"],
        "rss_growth_mb": round(last["rss_mb"] - warm["rss_mb"], 1),
        "series": series,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.soak", description=__doc__.split("\n")[0]
    )
    p.add_argument("--requests", type=int, default=20_000)
    p.add_argument("--concurrency", type=int, default=64)
    p.add_argument("--fault-rate", type=float, default=0.05)
    p.add_argument("--cancel-rate", type=float, default=0.01)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--deadline", type=float, default=5.0, help="Timeout.total of each call")
    p.add_argument("--json", metavar="PATH", help="also write the report here")
    p.add_argument("--quiet", action="store_true", help="no samples on stderr while running")
    args = p.parse_args(argv)
    report = asyncio.run(
        soak(
            requests=args.requests,
            concurrency=args.concurrency,
            fault_rate=args.fault_rate,
            cancel_rate=args.cancel_rate,
            seed=args.seed,
            quiet=args.quiet,
            deadline=args.deadline,
        )
    )
    text = json.dumps({k: v for k, v in report.items() if k != "series"}, indent=2)
    print(text)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)
    bad = report["ends"]["untyped_error"] + report["ends"]["hung"] + report["ends"]["wrong_answer"]
    return 1 if bad or report["connections_busy_at_end"] else 0


if __name__ == "__main__":
    raise SystemExit(main())

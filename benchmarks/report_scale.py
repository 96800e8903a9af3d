"""Render the scaling section, the "where rawllm is behind" list and the README headline.

Like ``benchmarks.report``, everything here is computed from the results
JSON; no figure is typed by hand.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from benchmarks.report import _fmt, _table, sdk_for

PEERS = ("floor", "rawllm", "openai", "openai_aiohttp", "anthropic", "httpx", "litellm")


def _med(d: dict[str, Any] | None, key: str = "cpu_us") -> float | None:
    if not d or key not in d:
        return None
    return float(d[key]["median"])


# --------------------------------------------------------------------- scale


def sweep_table(sweep: dict[str, Any]) -> Iterator[str]:
    rows = []
    for conc, cons in sorted(sweep.get("results", {}).items(), key=lambda kv: int(kv[0])):
        fl, me = _med(cons.get("floor")), _med(cons.get("rawllm"))
        rows.append([
            f"{int(conc):,}",
            _fmt(fl) if fl else "-",
            _fmt(me) if me else "-",
            f"{me / fl:.2f}x" if fl and me else "-",
            f"{_med(cons.get('rawllm'), 'per_s') or 0:,.0f}",
        ])  # fmt: skip
    yield from _table(
        ["concurrency", "floor µs/request", "rawllm µs/request", "rawllm / floor", "rawllm req/s"],
        rows,
    )


def _bend(sweep: dict[str, Any]) -> list[str]:
    """Where rawllm's curve is lowest, and how it moves on either side (from the figures)."""
    pts = sorted(
        (int(c), d["rawllm"]["cpu_us"]["median"])
        for c, d in sweep.get("results", {}).items()
        if "rawllm" in d
    )
    if len(pts) < 3:
        return []
    low = min(pts, key=lambda p: p[1])
    first, last = pts[0], pts[-1]
    return [
        f"rawllm's CPU per request is lowest at concurrency {low[0]:,} ({_fmt(low[1])} µs): "
        f"{(first[1] / low[1] - 1) * 100:.0f}% more at {first[0]:,} and "
        f"{(last[1] / low[1] - 1) * 100:.0f}% more at {last[0]:,}.",
        "",
    ]


def memory_table(mem: dict[str, Any]) -> Iterator[str]:
    rows = []
    for n, cons in sorted(mem.get("results", {}).items(), key=lambda kv: int(kv[0])):
        fl, me = _med(cons.get("floor"), "kib"), _med(cons.get("rawllm"), "kib")
        reps = max(d.get("repetitions", 1) for d in cons.values())
        rows.append([
            f"{int(n):,}", _fmt(fl) if fl else "-", _fmt(me) if me else "-",
            f"{me / fl:.2f}x" if fl and me else "-", str(reps),
        ])  # fmt: skip
    yield from _table(
        ["calls in flight", "floor KiB/call", "rawllm KiB/call", "rawllm / floor", "runs"], rows
    )


def swarm_table(sw: dict[str, Any]) -> Iterator[str]:
    rows = []
    for name in ("floor", "rawllm"):
        r = sw.get("results", {}).get(name)
        if not r:
            continue
        rows.append([
            name, f"{r['completed']:,} / {r['streams']:,}", _fmt(r["cpu_us_per_event"]),
            f"{r['rss_mib']:.0f}", f"{r['rss_mib'] * 1024 / max(1, r['streams']):.1f}",
            f"{(r['ttfe_p50_s'] or 0) * 1000:,.0f}", f"{(r['ttfe_p99_s'] or 0) * 1000:,.0f}",
            f"{r['events'] / r['wall_s']:,.0f}",
        ])  # fmt: skip
    yield from _table(
        ["client", "streams done", "CPU µs/event", "RSS MiB (peak - base)", "KiB/stream",
         "first event p50 ms", "p99 ms", "events/s (wall)"],
        rows,
    )  # fmt: skip


def uvloop_table(uv: dict[str, Any]) -> Iterator[str]:
    rows = []
    for sid, cons in uv.get("results", {}).items():
        for name in ("floor", "rawllm"):
            a, b = _med(cons.get(name)), _med(cons.get(f"{name}+uvloop"))
            if a and b:
                rows.append([sid, name, _fmt(a), _fmt(b), f"{(1 - b / a) * 100:+.0f}%".replace(
                    "+", "-", 1) if b < a else f"+{(b / a - 1) * 100:.0f}%"])  # fmt: skip
    yield from _table(
        ["scenario", "client", "asyncio µs/call or event", "uvloop", "CPU change with uvloop"],
        rows,
    )


def _retention(swarm: dict[str, Any]) -> list[str]:
    """A sentence on memory held per stream beyond the floor's, when there is any to speak of."""
    fl, me = swarm["results"].get("floor"), swarm["results"].get("rawllm")
    if not fl or not me or not me["completed"] or not fl["completed"]:
        return []
    per = [r["rss_mib"] * 2**20 / r["streams"] for r in (fl, me)]
    extra = per[1] - per[0]
    if extra < 2048:
        return []
    per_event = extra / max(1.0, me["events"] / me["completed"])
    return [
        f"rawllm holds {extra / 1024:.0f} KiB more per open stream than the floor, about "
        f"{per_event:,.0f} bytes per event received: its stream keeps every decoded event "
        "so that `final()` can fold them when the stream ends, so its memory per stream "
        "grows with the stream's length, where the floor's does not.",
        "",
    ]


def ceiling_rows(client: dict[str, Any]) -> list[list[str]]:
    """One core's ceiling per contender: 1 / CPU per call (no rate-limit headers)."""
    scs = client.get("scenarios", {})
    rows = []
    for api in ("chat", "messages"):
        req, ev = scs.get(f"{api}_c64", {}), scs.get(f"{api}_stream_c16", {})
        for name in PEERS:
            r = _med(req.get("contenders", {}).get(name))
            e = _med(ev.get("contenders", {}).get(name))
            if r or e:
                rows.append([
                    api, name, f"{1e6 / r:,.0f}" if r else "-", f"{1e6 / e:,.0f}" if e else "-",
                ])  # fmt: skip
    return rows


def scale_chart(scale: dict[str, Any], path: Path) -> bool:
    """CPU per request against concurrency, floor and rawllm (log x)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    res = scale.get("sweep", {}).get("results", {})
    if not res:
        return False
    concs = sorted(res, key=int)
    fig, ax = plt.subplots(figsize=(8, 4.2), dpi=110)
    for name in ("floor", "rawllm"):
        pts = [(int(c), res[c][name]) for c in concs if name in res[c]]
        if not pts:
            continue
        xs = [c for c, _ in pts]
        ax.plot(xs, [d["cpu_us"]["median"] for _, d in pts], marker="o", label=name)
        ax.fill_between(
            xs, [d["cpu_us"]["min"] for _, d in pts], [d["cpu_us"]["max"] for _, d in pts],
            alpha=0.15,
        )  # fmt: skip
    ax.set_xscale("log", base=2)
    ax.set_xticks([int(c) for c in concs], [f"{int(c):,}" for c in concs])
    ax.set_xlabel("calls in flight (concurrency)")
    ax.set_ylabel("client CPU µs per request")
    ax.set_ylim(bottom=0)
    ax.set_title("CPU per non-stream call as concurrency grows (median, min-max band)")
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return True


def scale_section(results: dict[str, Any], png_name: str | None) -> list[str]:
    scale = results.get("scale", {})
    client = results.get("client", {})
    if not scale and not client.get("scenarios"):
        return []
    lines = ["## Cost as work grows", ""]
    sw = scale.get("sweep", {})
    if sw.get("results"):
        lines += [
            "### CPU per request from 1 to 1,024 calls in flight",
            "",
            "Non-stream chat, no rate-limit headers, a pool as large as the concurrency, every "
            f"connection opened in warm-up; median of {sw.get('repetitions')} interleaved runs.",
            "",
        ]
        lines += list(sweep_table(sw))
        lines.append("")
        if png_name and results.get("scale_chart"):
            lines += [f"![CPU per request against concurrency]({png_name})", ""]
        lines += _bend(sw) + [SWEEP_WHY, ""]
    mem = scale.get("memory", {})
    if mem.get("results"):
        lines += [
            "### Memory per call in flight",
            "",
            "Calls started 250 every 50 ms against a server that holds every answer for "
            f"{mem.get('server_hold_s', 0):g} s; once the client is idle, its RSS over the "
            "level after warm-up, divided by the calls in flight.",
            "",
        ]
        lines += list(memory_table(mem))
        lines.append("")
    swarm = scale.get("swarm", {})
    if swarm.get("results"):
        lines += [
            f"### {swarm['streams']:,} concurrent streams from one process",
            "",
            f"Streams started {swarm.get('ramp_per_s', 0):,.0f} per second (a ramp: a storm "
            "of connects beyond the server's accept backlog measures the backlog), each with "
            f"{swarm['deltas']} text deltas {swarm['gap_s'] * 1000:.0f} ms apart, so all are "
            "open at once. Time to first event runs from each call's start; CPU per event "
            "is the whole run's CPU (connects included) over the events received. One run "
            "each.",
            "",
        ]
        lines += list(swarm_table(swarm))
        lines += ["", SWARM_WHY, ""]
        lines += _retention(swarm)
    ceil = ceiling_rows(client)
    if ceil:
        lines += [
            "### Throughput ceiling of one core",
            "",
            "1 / client CPU per call (non-stream at concurrency 64, stream events at 16, no "
            "rate-limit headers): how many a process could do if the client's core were the "
            "only limit.",
            "",
        ]
        lines += _table(["API", "client", "requests/s", "stream events/s"], ceil)
        lines.append("")
    uv = scale.get("uvloop", {})
    if uv.get("results") or uv.get("skipped"):
        lines += ["### uvloop (`pip install 'rawllm[speed]'`)", ""]
        if uv.get("skipped"):
            lines += [f"Skipped: {uv['skipped']}", ""]
        else:
            lines += [
                f"The same clients on asyncio's loop and on uvloop's (median of "
                f"{uv.get('repetitions')} interleaved runs):",
                "",
            ]
            lines += list(uvloop_table(uv))
            lines += ["", UVLOOP_HOWTO, ""]
    for part in ("sweep", "memory", "swarm", "uvloop"):
        errs = scale.get(part, {}).get("errors") or {}
        skipped = scale.get(part, {}).get("skipped")
        if errs or skipped:
            lines.append(f"{part}: " + (skipped or "; ".join(f"{k}: {v}" for k, v in errs.items())))
            lines.append("")
    return lines


SWEEP_WHY = """\
Why the curve bends: at concurrency 1 every request pays a whole event-loop
iteration (an `epoll` wait, the ready queue, the socket's read callback) on
its own; as concurrency grows the responses of many calls arrive in the same
iteration and that fixed cost is shared, so CPU per request falls. At high
concurrency it rises again: every loop iteration walks more ready callbacks
and timer handles (the floor's aiohttp session arms a timer per request for
its total timeout, and cancelled ones stay in the loop's heap until they
reach its top; rawllm keeps one lazy read timer per connection), the connector's pool
bookkeeping grows with the connections, and the working set of a thousand
open connections no longer fits the CPU caches. The floor and rawllm share
the shape because both are aiohttp underneath."""

SWARM_WHY = """\
With events 250 ms apart nothing is batched: each event arrives in its own
TCP read and loop iteration, so CPU per event here is several times the
streamed-throughput figure above, where a stream's events arrive back to
back."""

UVLOOP_HOWTO = """\
The CLI (`rawllm batch`, `rawllm chat`, ...) runs on uvloop when it is
installed. A library never changes the event loop for its caller, so in your
own program opt in yourself, before anything creates a loop:

```python
import asyncio

try:
    import uvloop
except ImportError:  # the [speed] extra is optional
    uvloop = None

import rawllm


async def main() -> None:
    async with rawllm.OpenAI() as client:
        resp = await client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}]
        )
        print(resp.choices[0].message.content)


if uvloop is not None:
    uvloop.run(main())
else:
    asyncio.run(main())
```"""


# -------------------------------------------------------------------- behind


def behind_rows(client: dict[str, Any]) -> list[list[str]]:
    """Every scenario where rawllm's median is above its reference's, and by how much."""
    rows = []
    for sid, sc in client.get("scenarios", {}).items():
        cons = sc["contenders"]
        key = "kib" if sc["kind"] == "memory" else "cpu_us"
        ref_name = "floor_paced" if "floor_paced" in cons else "floor"
        mine, ref = cons.get("rawllm", {}).get(key), cons.get(ref_name, {}).get(key)
        if not mine or not ref or mine["median"] <= ref["median"]:
            continue
        ratio = mine["median"] / ref["median"]
        overlap = mine["min"] <= ref["max"]
        spread = "within the spread (min-max ranges overlap)" if overlap else "beyond the spread"
        paired = sorted(
            a / b for a, b in zip(mine.get("samples", []), ref.get("samples", []), strict=False)
        )
        if len(paired) >= 4:
            q1, q3 = paired[len(paired) // 4], paired[(3 * len(paired)) // 4]
            mid = paired[len(paired) // 2]
            spread += f"; per repetition: median {mid:.2f}x, middle half {q1:.2f}-{q3:.2f}x"
        rows.append([sid, ref_name, f"{ratio:.2f}x", spread])
    return rows


# ------------------------------------------------------------------- README


def _range(vals: list[float]) -> str:
    lo, hi = min(vals), max(vals)
    return f"{lo:.2f}x" if abs(hi - lo) < 0.005 else f"{lo:.2f}-{hi:.2f}x"


def instruction_ratios(results: dict[str, Any]) -> dict[str, list[float]]:
    """rawllm / reference instruction ratios: unpaced requests and events, and binding ones."""
    out: dict[str, list[float]] = {"request": [], "event": [], "paced": []}
    for mode, cells in results.get("instructions", {}).get("modes", {}).items():
        for row in cells.values():
            unit = "per_event" if "per_event" in row.get("rawllm", {}) else "per_call"
            ref = "floor_paced" if mode == "binding" and "floor_paced" in row else "floor"
            mine, theirs = row.get("rawllm", {}).get(unit), row.get(ref, {}).get(unit)
            if not mine or not theirs:
                continue
            key = "paced" if mode == "binding" else ("event" if unit == "per_event" else "request")
            out[key].append(mine / theirs)
    return out if out["request"] and out["event"] else {}


def headline_text(results: dict[str, Any]) -> str:
    """The README's headline paragraph, every figure from ``results``."""
    client = results.get("client", {})
    scs = client.get("scenarios", {})

    def ratios(unit: str, modes: tuple[str, ...], ref: str = "floor") -> list[float]:
        out = []
        for sc in scs.values():
            if sc["kind"] == "memory" or sc["unit"] != unit or sc.get("headers") not in modes:
                continue
            a, b = _med(sc["contenders"].get("rawllm")), _med(sc["contenders"].get(ref))
            if a and b:
                out.append(a / b)
        return out

    parts = [
        "Measured on a 2-core machine shared with other work, each client in its own "
        "process against the same local server sending the response headers real "
        f"providers send, in one run (`{results.get('meta', {}).get('command', '?')}`; full "
        "tables, method and caveats in [docs/benchmarks.md](docs/benchmarks.md)): "
    ]
    req = ratios("request", ("none", "loose"))
    ev = ratios("event", ("none", "loose"))
    if req and ev:
        parts.append(
            "with no rate-limit headers or limits far above the load, rawllm costs "
            f"{_range(req)} the CPU per request of a minimal hand-written `aiohttp` + "
            f"`msgspec` client and {_range(ev)} per stream event; "
        )
    preq = ratios("request", ("binding",), "floor_paced")
    pev = ratios("event", ("binding",), "floor_paced")
    if preq:
        per_event = f" and {_range(pev)} per stream event" if pev else ""
        parts.append(
            "when the advertised limit binds (30,000 requests/min) rawllm costs "
            f"{_range(preq)} per request{per_event} of the same client paced with "
            "`aiolimiter`. "
        )
    sdk = []
    for api in ("chat", "messages"):
        sc = scs.get(f"{api}_c64")
        if sc:
            a, b = _med(sc["contenders"].get("rawllm")), _med(sc["contenders"].get(sdk_for(api)))
            if a and b:
                sdk.append(f"`{sdk_for(api)}` {b / a:.0f}x")
    if sdk:
        parts.append(
            "The official SDKs spend more CPU per request at concurrency 64 ("
            + ", ".join(sdk)
            + " rawllm's). "
        )
    mem = results.get("scale", {}).get("memory", {}).get("results", {})
    sw = results.get("scale", {}).get("swarm", {}).get("results", {}).get("rawllm")
    if mem.get("10000", {}).get("rawllm"):
        parts.append(
            f"A call in flight costs {_fmt(mem['10000']['rawllm']['kib']['median'])} KiB at "
            "10,000 in flight"
        )
        if sw:
            parts.append(
                f"; {sw['streams']:,} concurrent streams ran from one process with the "
                f"first event at {sw['ttfe_p50_s'] * 1000:,.0f} ms p50 / "
                f"{sw['ttfe_p99_s'] * 1000:,.0f} ms p99"
            )
        parts.append(". ")
    ins = instruction_ratios(results)
    if ins:
        parts.append(
            "Counted in instructions (valgrind: a figure the machine's load cannot move), "
            f"rawllm costs {_range(ins['request'])} the floor's per request and "
            f"{_range(ins['event'])} per stream event"
        )
        parts.append(
            " with no rate-limit headers or limits far above the load (the binding case "
            "depends on timing under valgrind: read it in CPU time). "
        )
    behind = behind_rows(client)
    if behind:
        worst = max(behind, key=lambda r: float(r[2].rstrip("x")))
        parts.append(
            f"rawllm is behind its reference in {len(behind)} of the measured scenarios, "
            f"at worst {worst[2]} ({worst[0]}); see the list in the docs."
        )
    text = "".join(parts).strip()
    return "\n".join(_wrap(text, 78))


def _wrap(text: str, width: int) -> list[str]:
    lines, cur = [], ""
    for word in text.split():
        if cur and len(cur) + 1 + len(word) > width:
            lines.append(cur)
            cur = word
        else:
            cur = f"{cur} {word}" if cur else word
    if cur:
        lines.append(cur)
    return lines


HEADLINE_RE = re.compile(r"(<!-- headline:start -->\n).*?(\n<!-- headline:end -->)", re.S)


def write_readme(results: dict[str, Any], readme: Path) -> bool:
    """Replace the README's headline block; False when the markers are missing."""
    text = readme.read_text(encoding="utf-8")
    if not HEADLINE_RE.search(text):
        return False
    body = headline_text(results)
    readme.write_text(HEADLINE_RE.sub(lambda m: m.group(1) + body + m.group(2), text))
    return True

"""Render benchmark results: markdown tables, a PNG chart, and docs/benchmarks.md.

Everything here reads the JSON that ``python -m benchmarks --json`` writes, so
the docs can be regenerated from a stored run (``--report results.json``) and
no figure is ever typed by hand.
"""

from __future__ import annotations

import os
import platform
import sys
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

from benchmarks.report_text import CAVEAT, HEADLINE_INTRO, METHOD, WHY

# Targets (issues 8 and 15): rawllm / reference, at most.  Where the server's advertised
# limit binds, the reference is the paced floor and the limit PACED_LIMIT.
TARGETS = {
    "request": (1.0, "floor", "non-stream CPU per request"),
    "event": (1.0, "floor", "CPU per stream event"),
    "memory": (1.2, "floor", "memory per in-flight request"),
    "import": (1.15, "rawllm dependencies", "`import rawllm` time"),
    "size": (1.1, "rawllm dependencies", "installed size with dependencies"),
}

PACED_LIMIT = 1.05

BENCH_PACKAGES = (
    "rawllm", "aiohttp", "msgspec", "backoff", "aiolimiter", "multidict", "yarl",
    "openai", "anthropic", "httpx", "httpx2", "httpcore", "httpx-sse", "pydantic",
    "pydantic-core", "anyio", "jiter", "matplotlib",
)  # fmt: skip


# ------------------------------------------------------------------- machine


def machine_info() -> dict[str, Any]:
    """CPU model, cores, OS and Python of this machine."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 0
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "os": f"{platform.system()} {platform.release()}",
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "executable": sys.executable,
    }


def package_versions() -> dict[str, str]:
    out = {}
    for name in BENCH_PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


# -------------------------------------------------------------------- tables


def _fmt(x: float) -> str:
    if x >= 100:
        return f"{x:,.0f}"
    if x >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"


def _ratio(x: float | None, ref: float | None) -> str:
    if x is None or not ref:
        return "-"
    return f"{x / ref:.2f}x"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return out


def sdk_for(api: str) -> str:
    return "anthropic" if api == "messages" else "openai"


def client_tables(client: dict[str, Any]) -> Iterator[str]:
    for sc in client["scenarios"].values():
        cons = sc["contenders"]
        if not cons:
            continue
        sdk = sdk_for(sc["api"])
        yield f"### {sc['title']}"
        yield ""
        if sc["kind"] == "memory":
            key, unit, extra = "kib", "KiB per request", None
            yield (
                f"{sc['requests']:,} calls started at once against a server that holds each "
                f"answer for {sc.get('server_latency_s', 0):g} s; once the client is idle (all "
                "sent, all waiting), its RSS over the level after warm-up, divided by "
                f"{sc['requests']:,}. anthropic runs Anthropic messages, the others chat "
                "completions. One run each (the spread is small; the floor's and rawllm's "
                "at 1,000 and 10,000 in flight are in the scaling section)."
            )
            yield ""
            sdk = "openai"
        else:
            key, unit, extra = "cpu_us", f"CPU µs per {sc['unit']}", f"{sc['unit']}s/s (wall)"
        floor = cons.get("floor", {}).get(key, {}).get("median")
        ref = cons.get(sdk, {}).get(key, {}).get("median")
        rows = []
        for name, d in sorted(cons.items(), key=lambda kv: kv[1][key]["median"]):
            s = d[key]
            row = [
                f"**{name}**" if name == "rawllm" else name,
                _fmt(s["median"]),
                f"{_fmt(s['min'])}-{_fmt(s['max'])}",
                _ratio(s["median"], floor),
                _ratio(s["median"], ref),
            ]
            if extra:
                row.append(f"{d['per_s']['median']:,.0f}")
            rows.append(row)
        header = ["contender", unit, "min-max", "vs floor", f"vs {sdk}"]
        if extra:
            header.append(extra)
        yield from _table(header, rows)
        yield ""


def import_table(imp: dict[str, Any]) -> Iterator[str]:
    res = imp["results"]
    ref = res.get("rawllm dependencies", {}).get("seconds", {}).get("median")
    rows = []
    for name, d in sorted(res.items(), key=lambda kv: kv[1]["seconds"]["median"]):
        s = d["seconds"]
        rows.append([
            name, ", ".join(d["modules"]), f"{s['median'] * 1000:,.0f}",
            f"{s['min'] * 1000:,.0f}-{s['max'] * 1000:,.0f}", _ratio(s["median"], ref),
            f"{d['wall_seconds']['median'] * 1000:,.0f}" if "wall_seconds" in d else "-",
        ])  # fmt: skip
    yield from _table(
        ["import", "modules", "CPU ms (median)", "min-max", "vs dependencies", "wall ms"], rows
    )


def size_table(size: dict[str, Any]) -> Iterator[str]:
    res = size["results"]
    ref = res.get("rawllm dependencies", {}).get("bytes")
    rows = []
    for name, d in sorted(res.items(), key=lambda kv: kv[1]["bytes"]):
        rows.append([
            name, f"{d['bytes'] / 2**20:.2f}", str(len(d["distributions"])),
            _ratio(d["bytes"], ref),
        ])  # fmt: skip
    yield from _table(["installed", "MiB", "distributions", "vs dependencies"], rows)


def decode_table(dec: dict[str, Any]) -> Iterator[str]:
    for payload, res in dec["results"].items():
        yield f"**{payload}** ({dec['items'][payload]} per pass)"
        yield ""
        rows = [
            [name, _fmt(r["us_per_item"]), f"{r['vs_rawllm']:.1f}x" if "vs_rawllm" in r else "-"]
            for name, r in sorted(res.items(), key=lambda kv: kv[1]["us_per_item"])
        ]
        yield from _table(["decoder", "µs per item", "vs rawllm"], rows)
        yield ""


def sse_table(sse: dict[str, Any]) -> Iterator[str]:
    rows = []
    for size, res in sse["results"].items():
        for name, r in res.items():
            rows.append([
                f"{int(size):,} B", name, f"{r['events_per_s']:,.0f}", f"{r['mb_per_s']:.1f}",
                f"{r['rawllm_speedup']:.2f}x",
            ])  # fmt: skip
    yield from _table(["pieces", "decoder", "events/s", "MB/s", "rawllm is faster by"], rows)


def generic_table(data: dict[str, Any]) -> Iterator[str]:
    """A table for results of unknown shape (``{"results": {name: {field: value}}}``)."""
    res = data.get("results", data)
    if not isinstance(res, dict) or not all(isinstance(v, dict) for v in res.values()):
        yield f"```\n{res}\n```"
        return
    fields: list[str] = []
    for v in res.values():
        fields += [k for k in v if k not in fields and not isinstance(v[k], (dict, list))]
    rows = [
        [name, *(_fmt(v[f]) if isinstance(v.get(f), float) else str(v.get(f, "-")) for f in fields)]
        for name, v in res.items()
    ]
    yield from _table(["", *fields], rows)


# ------------------------------------------------------------------ headline

HEADLINE_MODES = {
    "none": "none (vLLM, Ollama, most proxies)",
    "loose": "present, far above the load",
    "binding": "as a large account sends them (30,000 requests/min, binding)",
}


def _median(sc: dict[str, Any] | None, name: str, key: str = "cpu_us") -> float | None:
    if not sc:
        return None
    d = sc["contenders"].get(name, {}).get(key)
    return None if d is None else float(d["median"])


def headline_rows(client: dict[str, Any]) -> list[list[str]]:
    """rawllm's CPU over the floor's, per header mode: the issue's table, from the figures.

    Where the pace binds the reference is the paced floor, and the unpaced
    floor's ratio follows in brackets.
    """
    scs = client.get("scenarios", {})
    rows = []
    for api, label in (("chat", "OpenAI chat"), ("messages", "Anthropic messages")):
        sdk = sdk_for(api)
        for mode, title in HEADLINE_MODES.items():
            tail = "" if mode == "none" else f"_{mode}"
            cells = []
            for shape in ("c1", "c64", "stream_c16"):
                sc = scs.get(f"{api}_{shape}{tail}")
                mine = _median(sc, "rawllm")
                floor = _median(sc, "floor")
                paced = _median(sc, "floor_paced")
                if mine is None or floor is None:
                    cells.append("-")
                elif paced is not None:
                    cells.append(f"{mine / paced:.2f}x ({mine / floor:.2f}x)")
                else:
                    cells.append(f"{mine / floor:.2f}x")
            sc = scs.get(f"{api}_c64{tail}")
            mine, ref = _median(sc, "rawllm"), _median(sc, sdk)
            cells.append(f"{ref / mine:.1f}x" if mine and ref else "-")
            if any(c != "-" for c in cells):
                rows.append([f"{label}: {title}", *cells])
    return rows


HEADLINE_HEADER = [
    "server's rate headers",
    "non-stream c=1",
    "non-stream c=64",
    "stream event",
    "SDK's CPU / rawllm's (c=64)",
]


# ------------------------------------------------------------------- targets


def target_rows(results: dict[str, Any]) -> list[list[str]]:
    """One row per target of the issue: what was measured and whether it is met."""
    rows = []
    client = results.get("client", {})
    for sid, sc in client.get("scenarios", {}).items():
        cons = sc["contenders"]
        kind = "memory" if sc["kind"] == "memory" else sc["unit"]
        key = "kib" if kind == "memory" else "cpu_us"
        limit, ref_name, what = TARGETS[kind]
        if "floor_paced" in cons:
            limit, ref_name = PACED_LIMIT, "floor_paced"
        mine, ref = cons.get("rawllm"), cons.get(ref_name)
        if mine and ref:
            ratio = mine[key]["median"] / ref[key]["median"]
            rows.append(
                [
                    f"{what} ({sid})",
                    f"<= {limit:.2f}x {ref_name}",
                    f"{ratio:.2f}x",
                    "met" if ratio <= limit else f"missed by {(ratio / limit - 1) * 100:.0f}%",
                ]
            )
    for section, kind in (("import", "import"), ("size", "size")):
        ratio = results.get(section, {}).get("rawllm_vs_dependencies")
        if ratio is not None:
            limit, ref_name, what = TARGETS[kind]
            rows.append(
                [
                    what,
                    f"<= {limit:.2f}x {ref_name}",
                    f"{ratio:.2f}x",
                    "met" if ratio <= limit else f"missed by {(ratio / limit - 1) * 100:.0f}%",
                ]
            )
    return rows


# --------------------------------------------------------------------- chart


def chart(results: dict[str, Any], path: Path) -> bool:
    """Bar chart of CPU per request / event relative to the floor, log scale.

    Returns:
        False when matplotlib is missing or there is nothing to draw.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    scs = {
        sid: sc
        for sid, sc in results.get("client", {}).get("scenarios", {}).items()
        if sc["kind"] != "memory"
        and "floor" in sc["contenders"]
        and sc.get("headers", "none") == "none"  # the header modes: the headline table
    }
    if not scs:
        return False
    names: list[str] = []
    for sc in scs.values():
        names += [n for n in sc["contenders"] if n not in names]
    order = ["floor", "rawllm", "httpx", "openai_aiohttp", "openai", "anthropic", "litellm"]
    names = [n for n in names if n != "floor_paced"]
    names.sort(key=lambda n: order.index(n) if n in order else len(order))
    fig, ax = plt.subplots(figsize=(11, 4.8), dpi=110)
    width = 0.8 / len(names)
    for i, name in enumerate(names):
        xs, ys = [], []
        for j, sc in enumerate(scs.values()):
            d = sc["contenders"].get(name)
            if d:
                xs.append(j + (i - (len(names) - 1) / 2) * width)
                ys.append(d["cpu_us"]["median"] / sc["contenders"]["floor"]["cpu_us"]["median"])
        ax.bar(xs, ys, width, label=name)
    ax.set_yscale("log")
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_xticks(range(len(scs)))
    ax.set_xticklabels([sid.replace("_", "\n", 1) for sid in scs], fontsize=8)
    ax.set_ylabel("client CPU per request / event\n(x the aiohttp + msgspec floor, log)")
    ax.set_title(
        "Client CPU relative to hand-written aiohttp + msgspec, no rate-limit headers"
        " (lower is better)"
    )
    ax.legend(fontsize=8, ncol=4)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return True


# ------------------------------------------------------------------ document


def _peer_reps(client: dict[str, Any]) -> str:
    reps = client.get("peer_repetitions")
    if not isinstance(reps, dict):
        return str(reps if reps is not None else client.get("repetitions", "?"))
    return ", ".join(f"{n} {'without rate headers' if m == 'none' else m}" for m, n in reps.items())


def render(results: dict[str, Any], png_name: str | None = "benchmarks.png") -> str:
    """The whole of docs/benchmarks.md from a results dict."""
    meta = results.get("meta", {})
    m = meta.get("machine", {})
    client = results.get("client", {})
    lines = ["# Benchmarks", "", CAVEAT, ""]
    lines += [
        "Regenerate this page (figures, table and chart) with one command from a source "
        "checkout with the `[bench]` extra installed:",
        "",
        "```bash",
        "python -m benchmarks --report            # full run (about 15 minutes), then write",
        "python -m benchmarks --json results.json # keep the raw figures",
        "python -m benchmarks --report results.json  # re-render from them",
        "python -m benchmarks --light import,decode,sse,goodput  # about 10 minutes",
        "rawllm bench                             # the quick run (a few minutes)",
        "```",
        "",
        f"This page was generated from the run of {meta.get('date', '?')}"
        f" (command: `{meta.get('command', '?')}`, "
        f"{'quick' if meta.get('quick') else 'full'} run"
        + (
            f"; {', '.join(meta['light_sections'])} in their quick form"
            if meta.get("light_sections")
            else ""
        )
        + ").",
        "",
        "## Machine and versions",
        "",
        f"* CPU: {m.get('cpu', '?')}, {m.get('cores', '?')} cores "
        f"({m.get('usable_cores', '?')} usable); server pinned to "
        f"{client.get('pinning', {}).get('server')}, client to "
        f"{client.get('pinning', {}).get('client')}",
        f"* OS: {m.get('os', '?')}; Python: {m.get('python', '?')}",
        (
            f"* Load average (1, 5, 15 min) before the run: {meta['load_before']}, after: "
            f"{meta.get('load_after')}; the run took {meta.get('seconds', '?')} s"
            if meta.get("load_before")
            else f"* The run took {meta.get('seconds', '?')} s (load average not recorded)"
        ),
        "* Packages: " + ", ".join(f"{k} {v}" for k, v in sorted(meta.get("versions", {}).items())),
    ]
    for name, vs in sorted(client.get("versions", {}).items()):
        lines.append(f"  * {name}: " + ", ".join(f"{k} {v}" for k, v in vs.items()))
    lines.append("")

    hrows = headline_rows(client)
    if hrows:
        lines += ["## With the headers real providers send", "", HEADLINE_INTRO, ""]
        lines += _table(HEADLINE_HEADER, hrows)
        lines.append("")

    trows = target_rows(results)
    if trows:
        lines += ["## Targets", ""]
        lines += _table(["target", "goal", "measured (median)", "verdict"], trows)
        lines.append("")

    from benchmarks import report_scale

    brows = report_scale.behind_rows(client)
    if brows:
        lines += ["## Where rawllm is behind", "",
                  "Every scenario below where rawllm's median CPU (or memory) is above its "
                  "reference's, largest first:", ""]  # fmt: skip
        brows.sort(key=lambda r: -float(r[2].rstrip("x")))
        lines += _table(["scenario", "reference", "rawllm / reference", "spread"], brows)
        lines.append("")

    dec = results.get("decode", {}).get("results", {})

    def _d(payload: str, name: str) -> str:
        v = dec.get(payload, {}).get(name, {}).get("us_per_item")
        return _fmt(v) if v is not None else "?"

    lines += ["## Why the figures are what they are", ""]
    lines.append(
        WHY.format(
            rawllm_chunk=_d("chat chunk", "rawllm"),
            openai_chunk=_d("chat chunk", "openai"),
            anthropic_event=_d("messages event", "anthropic"),
        )
    )
    lines.append("")
    lines += ["## Method", ""]
    lines.append(
        METHOD.format(
            pool=client.get("pool", "?"),
            reps=client.get("repetitions", "?"),
            peer_reps=_peer_reps(client),
            other_reps=client.get("other_peer_repetitions", "?"),
            pace=client.get("pace_per_s", 500.0),
            factor=client.get("calls_factor", 1),
            events=", ".join(f"{k} {v}" for k, v in client.get("events_per_stream", {}).items())
            or "?",
        )
    )
    lines.append("")
    if png_name and results.get("chart"):
        lines += [f"![client CPU relative to the floor]({png_name})", ""]
    if client.get("scenarios"):
        lines += ["## End to end: client CPU per call", ""]
        lines += list(client_tables(client))
        for title, d in (
            ("Skipped", client.get("skipped")),
            ("Errors", client.get("errors")),
            ("Left out of the memory scenario", client.get("memory_excluded")),
        ):
            if d:
                lines.append(f"{title}:")
                lines.append("")
                lines += [f"* {k}: {v}" for k, v in d.items()]
                lines.append("")
    lines += report_scale.scale_section(results, "benchmarks-scaling.png" if png_name else None)
    if "import" in results:
        reps = results["import"].get("repetitions")
        lines += ["## Import time", "",
                  "A fresh interpreter per measurement; only the `import` statement is timed, "
                  f"in CPU time (compared) and wall time (median of {reps}, interleaved).",
                  ""]  # fmt: skip
        lines += list(import_table(results["import"]))
        lines.append("")
    if "size" in results:
        lines += ["## Installed size", "",
                  "Files listed in each distribution's RECORD, over the closure of its "
                  "requirements (no extras); rawllm installed as editable is measured from its "
                  "package directory (.py plus compiled .pyc).", ""]  # fmt: skip
        lines += list(size_table(results["size"]))
        lines.append("")
    if dec:
        lines += ["## Decoding microbenchmark", "",
                  "The same bytes decoded into each library's own types; the SDK rows are what "
                  "the SDK runs by default (`json.loads` + `construct_type`), the validated rows "
                  "what it runs with strict response validation.", ""]  # fmt: skip
        lines += list(decode_table(results["decode"]))
    sse = results.get("sse")
    if sse and "results" in sse:
        lines += ["## SSE decoder microbenchmark (`benchmarks/bench_sse.py`)", ""]
        lines += list(sse_table(sse))
        lines.append("")
    elif sse:
        lines += ["## SSE decoder microbenchmark", "", f"Skipped: {sse.get('skipped')}", ""]
    gp = results.get("goodput")
    if gp and "skipped" in gp:
        lines += ["## Goodput under rate limits", "", f"Skipped: {gp['skipped']}", ""]
    elif gp:
        lines += ["## Goodput under rate limits (`benchmarks/bench_goodput.py`)", ""]
        lines += list(generic_table(gp))
        lines.append("")
    ins = results.get("instructions")
    if ins and ins.get("modes"):
        from benchmarks import bench_instructions

        lines += ["## Instructions per call (`benchmarks/bench_instructions.py`)", "",
                  INSTRUCTIONS_INTRO, ""]  # fmt: skip
        if ins.get("command"):
            when = f" ({ins['when']})" if ins.get("when") else ""
            lines += [f"Counted with `{ins['command']}`{when}.", ""]
        lines += bench_instructions.table(ins)
        lines.append("")
        parts = ins.get("parts")
        if parts and parts.get("parts"):
            lines += ["### Where a request's instructions go", "", PARTS_INTRO, ""]
            if parts.get("command"):
                when = f" ({parts['when']})" if parts.get("when") else ""
                lines += [f"Counted with `{parts['command']}`{when}.", ""]
            lines += bench_instructions.parts_table(parts)
            lines.append("")
            lines += request_gap(ins)
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"


PARTS_INTRO = (
    "Each piece of a request's path that rawllm has and the floor has not (or does "
    "differently), run alone in a loop under valgrind: the same difference of two runs, "
    "less the loop's own cost. With the table above, they say where the gap per call comes from; "
    "the rest of the path is what is left of the gap, negative where rawllm does less than the "
    "floor (aiohttp's cookie jar, which parses every answer's `set-cookie` in the `loose` rows, "
    "the per-request URL parsing and proxy lookup, the read timer re-created per chunk)."
)


def request_gap(ins: dict[str, Any]) -> list[str]:
    """Sentences splitting rawllm's extra instructions per call at c=1 into the measured parts."""
    parts = ins.get("parts", {}).get("parts", {})
    out = []
    for mode in ("none", "loose"):
        cells = ins.get("modes", {}).get(mode, {})
        for api, cell, provider in (
            ("chat", "chat_c1", "openai"),
            ("messages", "messages_c1", "anthropic"),
        ):
            answer = "answer_none" if mode == "none" else f"answer_loose_{provider}"
            row = cells.get(cell, {})
            raw, ref = row.get("rawllm", {}).get("per_call"), row.get("floor", {}).get("per_call")
            dec_r = parts.get(f"decode_{api}_rawllm", {}).get("per_call")
            dec_f = parts.get(f"decode_{api}_floor", {}).get("per_call")
            learn = parts.get(answer, {}).get("per_call")
            if None in (raw, ref, dec_r, dec_f, learn):
                continue
            gap, dec = raw - ref, dec_r - dec_f
            rest = gap - learn - dec
            out.append(
                f"* {cell}, {mode}: rawllm counts {gap:+,} instructions per call against the "
                f"floor: learning from the answer {learn:+,}, decoding every field {dec:+,}, "
                f"the rest of its path {rest:+,}."
            )
    return out


INSTRUCTIONS_INTRO = (
    "CPU time on a shared 2-core machine moves by 10-30% between repetitions, more than the "
    "few per cent that separate rawllm from the floor. These are user-space instructions "
    "counted by valgrind (callgrind) for one call (or one stream event): the difference "
    "between two runs of different lengths after the same warm-up and a `gc.collect()` (as "
    "the CPU-time harness does), so start-up and warm-up cancel out and no collection of "
    "the warm-up's survivors falls in one run of the pair only (that alone moved a cell by "
    "up to 3% before 2026-12-03). They do not move with load. They do not see kernel time "
    "(the same syscalls for every aiohttp client), cache misses, or bulk copies (one instruction "
    "copies a large buffer). Read them beside the CPU tables. The `binding` rows are the "
    "exception: under valgrind a client runs some 50 times slower, so a 500/s pace barely "
    "binds, and whether a client's timers fire or its learned limits arm depends on timing; "
    "those rows moved by up to 10% between runs (the paced floor's too). Read the binding "
    "case in the CPU tables."
)


def write_docs(results: dict[str, Any], docs_dir: Path) -> tuple[Path, Path | None]:
    """Write docs/benchmarks.md, its charts and the README headline; returns md and png paths."""
    from benchmarks import report_scale

    png = docs_dir / "benchmarks.png"
    results["chart"] = chart(results, png)
    results["scale_chart"] = report_scale.scale_chart(
        results.get("scale", {}), docs_dir / "benchmarks-scaling.png"
    )
    report_scale.write_readme(results, docs_dir.parent / "README.md")
    md = docs_dir / "benchmarks.md"
    md.write_text(render(results, png.name), encoding="utf-8")
    return md, png if results["chart"] else None

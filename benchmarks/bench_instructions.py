"""Instructions per call and per stream event, counted by valgrind: a figure load cannot move.

On a shared 2-core machine the CPU time of one repetition moves by 10-30%
from run to run, so a few per cent between rawllm and the floor cannot be
resolved by timing.  Here every contender runs under ``valgrind
--tool=callgrind`` against the same ``benchmarks.server`` (outside valgrind),
twice: ``n1`` and ``n2`` timed calls after the same warm-up; the difference of
the two instruction totals divided by ``n2 - n1`` is the cost of one call, free
of start-up, import and warm-up.  For streams it is divided by the SSE data
events per answer.

After the warm-up the child runs ``gc.collect()``, as the CPU-time harness
does before it starts its clock.  Without it, whether a collection of the
warm-up's survivors (the whole heap: imports included) lands inside the
shorter or the longer run decides a few per cent: rawllm's chat cell at
concurrency 64 measured 1.019-1.048x the floor in four runs without it, and
1.003x and 1.008x with it.  Collections of the calls' own garbage still count.

What it does not see: time in the kernel (the same syscalls for every
aiohttp-based contender), cache misses, and copies done by one instruction
(``rep movsb``): a memcpy of a large buffer counts as a few instructions.
Read it beside the CPU-time tables, not instead of them.

The ``binding`` mode is timing-dependent here: under valgrind a client runs
some 50 times slower, so the 500/s pace barely binds, and whether timers fire
or learned limits arm depends on how fast the run goes.  Its cells moved by up
to 10% between runs; the CPU-time tables are the measure of the binding case.

Usage::

    python -m benchmarks.bench_instructions                   # the default cells
    python -m benchmarks.bench_instructions --cells chat_c64 --headers none,loose
    python -m benchmarks.bench_instructions --json out.json
    python -m benchmarks.bench_instructions --parts           # pieces of a request, alone

``--parts`` counts pieces of a request's path that rawllm has and the floor
has not (learning from an answer's headers, decoding every field) alone in a
loop, with no server: with the cells, they say where a gap per call comes from.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

# cell -> (operation, concurrency, n1, n2): sizes keep a cell under about a minute
CELLS: dict[str, tuple[str, int, int, int]] = {
    "chat_c1": ("chat", 1, 100, 500),
    "chat_c64": ("chat", 64, 200, 1200),
    "chat_stream_c16": ("chat_stream", 16, 16, 64),
    "messages_c1": ("messages", 1, 100, 500),
    "messages_c64": ("messages", 64, 200, 1200),
    "messages_stream_c16": ("messages_stream", 16, 16, 64),
}
QUICK_CELLS = ("chat_c64", "chat_stream_c16")
MODES = ("none", "loose", "binding")

# part -> what it is: one piece of a request's path, run alone in a loop (``--parts``)
PARTS: dict[str, str] = {
    "answer_none": "rawllm learns from one answer without rate-limit headers (vLLM, Ollama)",
    "answer_loose_openai": "the same with OpenAI's full header set, limits far off",
    "answer_loose_anthropic": "the same with Anthropic's full header set, limits far off",
    "decode_chat_rawllm": "rawllm decodes one chat completion body (every field, typed)",
    "decode_chat_floor": "the floor decodes the same body (the two fields it reads)",
    "decode_messages_rawllm": "rawllm decodes one Anthropic message body",
    "decode_messages_floor": "the floor decodes the same body",
}
PARTS_N = (2000, 12000)

_PARTS_CHILD = """
import sys
from multidict import CIMultiDict, CIMultiDictProxy
import rawllm
from rawllm._permit import NOOP
from rawllm._wire.anthropic import decode_message
from rawllm._wire.openai import decode_chat_completion
from benchmarks.contenders import floor
from benchmarks.server import CHAT_BODY, MESSAGE_BODY, HeaderMaker
part, n = sys.argv[1], int(sys.argv[2])

def headers(api, mode):  # as aiohttp hands them over: a CIMultiDictProxy of str
    maker = HeaderMaker(api, mode)
    size = len(CHAT_BODY if api == "openai" else MESSAGE_BODY)
    out = []
    for _ in range(64):
        lines = [line.split(":", 1) for line in maker.render(14, 8).split("\\r\\n") if line]
        lines += [["content-type", "application/json"], ["content-length", str(size)]]
        out.append(CIMultiDictProxy(CIMultiDict((k.strip(), v.strip()) for k, v in lines)))
    return out

def run():
    if part.startswith("answer_"):
        mode, _, api = part[len("answer_"):].partition("_")
        if api == "anthropic":
            client = rawllm.Anthropic(api_key="sk-bench", base_url="http://127.0.0.1:9")
        else:
            client = rawllm.OpenAI(api_key="sk-bench", base_url="http://127.0.0.1:9/v1")
        observe = client._shared.limiter.observe
        hs = headers(api or "openai", mode)
        for i in range(n):
            observe(200, hs[i & 63], NOOP)
        return
    fn, body = {
        "decode_chat_rawllm": (decode_chat_completion, CHAT_BODY),
        "decode_chat_floor": (floor._completion, CHAT_BODY),
        "decode_messages_rawllm": (decode_message, MESSAGE_BODY),
        "decode_messages_floor": (floor._message, MESSAGE_BODY),
        "empty": (len, b""),
    }[part]
    for _ in range(n):
        fn(body)

run()
"""

_CHILD = """
import asyncio, gc, importlib, sys
from benchmarks.contenders import MODULES
from benchmarks.contenders.__main__ import _drive
from benchmarks.server import LIMITS
name, root, op, conc, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
mod = importlib.import_module("benchmarks.contenders." + MODULES[name])
async def main():
    kw = {"pace": LIMITS["binding"]["openai"][0] / 60.0} if getattr(mod, "PACED", False) else {}
    client = mod.Client(root, 1000, **kw)
    await client.start()
    fn = getattr(client, op)
    await _drive(fn, conc, max(2 * conc, 32))
    gc.collect()  # as the CPU-time harness does: no warm-up garbage left to collect in the count
    await _drive(fn, conc, n)
    await client.aclose()
asyncio.run(main())
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _instructions(name: str, root: str, op: str, conc: int, n: int) -> int:
    return _count(f"{name} {op}", _CHILD, [name, root, op, str(conc), str(n)])


def _count(what: str, child: str, args: list[str]) -> int:
    """User-space instructions of one ``python -c child args...`` run under callgrind."""
    proc = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable]
        + ["-c", child, *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    found = re.search(r"Collected : (\d+)", proc.stderr)
    if proc.returncode != 0 or found is None:
        tail = "\n".join(proc.stderr.strip().splitlines()[-5:])
        raise RuntimeError(f"{what}: valgrind failed:\n{tail}")
    return int(found.group(1))


def measure_parts(parts: list[str]) -> dict[str, Any]:
    """Instructions of one call of each part, alone in a loop (the loop's own cost taken off).

    The same difference of two runs as the cells, with no server and no event
    loop: what one piece of a request's path costs, to say where the gap
    between rawllm and the floor comes from.
    """
    n1, n2 = PARTS_N

    def per_call(part: str) -> float:
        a = _count(part, _PARTS_CHILD, [part, str(n1)])
        b = _count(part, _PARTS_CHILD, [part, str(n2)])
        return (b - a) / (n2 - n1)

    loop = per_call("empty")
    return {
        "n": [n1, n2],
        "parts": {p: {"per_call": round(per_call(p) - loop), "what": PARTS[p]} for p in parts},
    }


def parts_table(parts: dict[str, Any]) -> list[str]:
    """Markdown rows: instructions of one call of each part."""
    lines = ["| part | instructions per call | what |", "|---|---|---|"]
    for name, row in parts.get("parts", {}).items():
        lines.append(f"| {name} | {row['per_call']:,} | {row['what']} |")
    return lines


def measure(mode: str, cells: list[str], contenders: list[str]) -> dict[str, Any]:
    """Instructions per call (and per event) of each contender in each cell, one server."""
    from benchmarks.bench_client import events_per_stream

    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.server", "--headers", mode, "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    root = f"http://127.0.0.1:{port}"
    out: dict[str, Any] = {}
    try:
        for _ in range(50):
            try:
                events = events_per_stream(root)
                break
            except OSError:
                time.sleep(0.1)
        else:
            raise RuntimeError("the benchmark server did not start")
        for cell in cells:
            op, conc, n1, n2 = CELLS[cell]
            row: dict[str, Any] = {}
            for name in contenders:
                if mode != "binding" and name == "floor_paced":
                    continue
                a = _instructions(name, root, op, conc, n1)
                b = _instructions(name, root, op, conc, n2)
                per_call = (b - a) / (n2 - n1)
                row[name] = {"per_call": round(per_call)}
                if op.endswith("_stream"):
                    api = op.split("_")[0]
                    row[name]["per_event"] = round(per_call / events[api])
            out[cell] = row
    finally:
        server.terminate()
        server.wait()
    return out


def run(quick: bool = False) -> dict[str, Any]:
    """The suite's entry point (``python -m benchmarks`` section ``instructions``)."""
    if shutil.which("valgrind") is None:
        return {"skipped": "valgrind is not installed (apt install valgrind)"}
    cells = list(QUICK_CELLS if quick else CELLS)
    modes = ("none",) if quick else MODES
    contenders = ["floor", "floor_paced", "rawllm"]
    return {"modes": {m: measure(m, cells, contenders) for m in modes}}


def table(results: dict[str, Any]) -> list[str]:
    """Markdown rows: rawllm against its reference (the floor; the paced floor when binding)."""
    lines = [
        "| scenario | headers | floor | paced floor | rawllm | rawllm / reference |",
        "|---|---|---|---|---|---|",
    ]
    for mode, cells in results.get("modes", {}).items():
        for cell, row in cells.items():
            unit = "per_event" if "per_event" in row.get("rawllm", {}) else "per_call"
            ref = "floor_paced" if mode == "binding" and "floor_paced" in row else "floor"
            vals = {k: v.get(unit) for k, v in row.items()}
            ratio = (
                f"{vals['rawllm'] / vals[ref]:.3f}x"
                if vals.get("rawllm") and vals.get(ref)
                else "-"
            )
            cols = [
                f"{vals[k]:,}" if vals.get(k) else "-" for k in ("floor", "floor_paced", "rawllm")
            ]
            what = cell + (" (per event)" if unit == "per_event" else "")
            lines.append(f"| {what} | {mode} | " + " | ".join(cols) + f" | {ratio} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cells", default=",".join(CELLS), help="comma-separated cells")
    parser.add_argument("--headers", default=",".join(MODES), help="none, loose, binding")
    parser.add_argument("--contenders", default="floor,floor_paced,rawllm")
    parser.add_argument("--json", metavar="PATH", help="also write the figures as JSON")
    parser.add_argument(
        "--parts",
        nargs="?",
        const=",".join(PARTS),
        metavar="A,B",
        help="count pieces of a request's path alone instead of the cells "
        f"(default: all of {','.join(PARTS)})",
    )
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not installed")
    if args.parts:
        names = [p for p in args.parts.split(",") if p]
        bad = sorted(set(names) - set(PARTS))
        if bad:
            sys.exit(f"unknown parts {bad}; choose from {list(PARTS)}")
        found = measure_parts(names)
        print("\n".join(parts_table(found)))
        if args.json:
            Path(args.json).write_text(json.dumps(found, indent=2))
        return
    cells = [c for c in args.cells.split(",") if c]
    bad = sorted(set(cells) - set(CELLS))
    if bad:
        sys.exit(f"unknown cells {bad}; choose from {list(CELLS)}")
    results = {
        "modes": {
            m: measure(m, cells, args.contenders.split(",")) for m in args.headers.split(",") if m
        }
    }
    print("\n".join(table(results)))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()

"""Profile one contender against the benchmark server: where its CPU per call goes.

Usage::

    python -m benchmarks.profile rawllm chat --concurrency 64 --headers binding
    python -m benchmarks.profile floor chat_stream --headers none --top 30

Starts ``benchmarks.server`` in its own process (pinned to the first core
when there are two), warms the contender up, then runs ``--requests`` calls
under ``cProfile`` in this process and prints the functions by own time
(``tottime``) and by cumulative time, plus the CPU per call measured without
the profiler (profiling inflates Python-level costs, so read ratios, not
absolutes).  ``--py-spy`` instead re-runs the same load under
``py-spy record`` (when installed) and writes a flame graph.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import importlib
import io
import json
import os
import pstats
import shutil
import subprocess
import sys
import time
from typing import Any

from benchmarks import _harness as h
from benchmarks.contenders import MODULES
from benchmarks.contenders.__main__ import _drive
from benchmarks.server import LIMITS

PACE = LIMITS["binding"]["openai"][0] / 60.0


async def _measure(name: str, root: str, op: str, conc: int, n: int, prof: Any) -> dict[str, Any]:
    mod = importlib.import_module("benchmarks.contenders." + MODULES[name])
    kwargs = {"pace": PACE} if getattr(mod, "PACED", False) else {}
    client = mod.Client(root, 1000, **kwargs)
    await client.start()
    try:
        fn = getattr(client, op)
        await _drive(fn, conc, max(conc * 2, 64))
        c0, w0 = time.process_time(), time.perf_counter()
        await _drive(fn, conc, n)
        cpu, wall = time.process_time() - c0, time.perf_counter() - w0
        if prof is not None:
            prof.enable()
            await _drive(fn, conc, n)
            prof.disable()
    finally:
        await client.aclose()
    return {"cpu_us_per_call": cpu / n * 1e6, "calls_per_s": n / wall}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.profile", description=__doc__)
    p.add_argument("contender", choices=sorted(MODULES))
    p.add_argument("op", choices=("chat", "chat_stream", "messages", "messages_stream"))
    p.add_argument("--concurrency", type=int, default=64)
    p.add_argument("--requests", type=int, default=2000)
    p.add_argument("--headers", default="none", help="server header mode")
    p.add_argument("--top", type=int, default=25)
    p.add_argument("--py-spy", metavar="SVG", help="record a flame graph instead of cProfile")
    p.add_argument("--in-child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--root", help=argparse.SUPPRESS)
    args = p.parse_args(argv)

    if args.in_child:  # the load py-spy records
        asyncio.run(
            _measure(args.contender, args.root, args.op, args.concurrency, args.requests, None)
        )
        return 0
    server_cpus, client_cpus = h.cpu_layout()
    if client_cpus:
        os.sched_setaffinity(0, client_cpus)
    with h.Server(cpus=server_cpus, headers=args.headers) as srv:
        if args.py_spy:
            spy = shutil.which("py-spy")
            if spy is None:
                print("py-spy is not installed (pip install py-spy)", file=sys.stderr)
                return 2
            cmd = [
                spy, "record", "-o", args.py_spy, "-r", "500", "--",
                sys.executable, "-m", "benchmarks.profile", args.contender, args.op,
                "--concurrency", str(args.concurrency), "--requests", str(args.requests),
                "--in-child", "--root", srv.url,
            ]  # fmt: skip
            return subprocess.run(cmd, cwd=h.ROOT, env=h.child_env()).returncode
        prof = cProfile.Profile()
        res = asyncio.run(
            _measure(args.contender, srv.url, args.op, args.concurrency, args.requests, prof)
        )
    print(json.dumps({"contender": args.contender, "op": args.op, "headers": args.headers, **res}))
    for key in ("tottime", "cumulative"):
        out = io.StringIO()
        stats = pstats.Stats(prof, stream=out)
        stats.sort_stats(key).print_stats(args.top)
        text = out.getvalue()
        print(text[text.find("   ncalls") :])
    return 0


if __name__ == "__main__":
    sys.exit(main())

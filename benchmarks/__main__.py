"""Run rawllm's benchmark suite: ``python -m benchmarks`` (also ``rawllm bench``).

Sections: ``client`` (end to end against the SDKs, the floor and the paced
floor, each in its own process, for each header mode of the server),
``scale`` (concurrency sweep, memory at 1,000 and 10,000 in flight, 10,000
streams, uvloop), ``import``, ``size``, ``decode``, ``sse`` (``bench_sse``)
and ``goodput`` (``bench_goodput``, when present).

Examples::

    python -m benchmarks                      # full run, about 15 minutes; prints tables
    python -m benchmarks --quick              # a few minutes
    python -m benchmarks --light import,sse   # a full run with these sections quick
    python -m benchmarks --json results.json  # also keep the raw figures
    python -m benchmarks --only chat_c64      # one client scenario (or a section name)
    python -m benchmarks --versions           # versions of everything measured
    python -m benchmarks --report             # full run, then docs/benchmarks.{md,png}
    python -m benchmarks --report results.json  # re-render the docs from stored figures
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from benchmarks import _harness as h
from benchmarks import report
from benchmarks.contenders import CONTENDERS

SECTIONS = ("client", "scale", "import", "size", "decode", "sse", "goodput")
ON_REQUEST = ("instructions",)
"""Sections a full run leaves out (``--only instructions``: valgrind, about half an hour)."""
DOCS = h.ROOT / "docs"


def _optional(module: str) -> Callable[[bool], dict[str, Any]] | str:
    """``module.run`` if the module exists, else the reason it does not."""
    try:
        mod = importlib.import_module(module)
    except ImportError as exc:
        return f"{type(exc).__name__}: {exc}"
    fn = getattr(mod, "run", None)
    return fn if callable(fn) else f"{module} has no run(quick)"


def _loadavg() -> list[float] | None:
    """1, 5 and 15 minute load averages: how busy the machine was around the run."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def versions() -> dict[str, Any]:
    """Versions of the interpreter, the packages here, and each contender's process."""
    out: dict[str, Any] = {"python": sys.version.split()[0], "packages": report.package_versions()}
    contenders: dict[str, Any] = {}
    for name in CONTENDERS:
        py, reason = h.contender_python(name)
        if py is None:
            contenders[name] = {"skipped": reason}
            continue
        code = (
            "import json, importlib; from benchmarks.contenders import MODULES; "
            f"m = importlib.import_module('benchmarks.contenders.' + MODULES[{name!r}]); "
            "print(json.dumps(m.versions()))"
        )
        proc = subprocess.run(
            [py, "-c", code], capture_output=True, text=True, cwd=h.ROOT, env=h.child_env()
        )
        if proc.returncode == 0:
            contenders[name] = json.loads(proc.stdout.strip().splitlines()[-1])
        else:
            tail = (proc.stderr.strip().splitlines() or ["failed"])[-1]
            contenders[name] = {"skipped": tail[:200]}
    out["contenders"] = contenders
    return out


def run_all(
    quick: bool,
    only: str | None = None,
    contenders: list[str] | None = None,
    repetitions: int | None = None,
    command: str = "",
    light: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """Run the sections (``only``: a section name or a client scenario id substring).

    Sections named in ``light`` run in their quick form (fewer repetitions)
    even in a full run; the results say which.
    """
    sections = [only] if only in SECTIONS + ON_REQUEST else list(SECTIONS)
    client_only = None if only is None or only in SECTIONS + ON_REQUEST else only
    if client_only is not None:
        sections = ["client"]
    results: dict[str, Any] = {
        "meta": {
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "command": command,
            "quick": quick,
            "light_sections": sorted(light),
            "machine": report.machine_info(),
            "versions": report.package_versions(),
            "load_before": _loadavg(),
        }
    }
    names = contenders
    if "client" in sections and not quick and (names is None or "litellm" in names):
        if h.contender_python("litellm")[0] is None:
            h.progress(f"creating the litellm venv in {h.LITELLM_VENV} ...")
            err = h.setup_litellm()
            if err:
                h.progress(err)
    t_all = time.perf_counter()
    all_quick = quick
    for section in sections:
        quick = all_quick or section in light
        t0 = time.perf_counter()
        h.progress(f"{section} ...")
        if section == "client":
            from benchmarks import bench_client

            results["client"] = bench_client.run(
                quick=quick, contenders=names, only=client_only, repetitions=repetitions
            )
        elif section == "scale":
            from benchmarks import bench_scale

            results["scale"] = bench_scale.run(quick=quick)
        elif section == "import":
            from benchmarks import bench_import

            results["import"] = bench_import.run(quick=quick)
        elif section == "size":
            from benchmarks import bench_size

            results["size"] = bench_size.run(quick=quick)
        elif section == "decode":
            from benchmarks import bench_decode

            results["decode"] = bench_decode.run(quick=quick)
        else:  # sse, goodput: modules owned by their issues, picked up when present
            fn = _optional(f"benchmarks.bench_{section}")
            if isinstance(fn, str):
                if section == "sse" or "no run(" in fn:  # a missing goodput is simply not there
                    results[section] = {"skipped": fn}
                h.progress(f"{section} skipped: {fn}")
                continue
            try:
                results[section] = fn(quick)
            except Exception as exc:  # one broken section must not lose the others
                results[section] = {"skipped": f"{type(exc).__name__}: {exc}"[:300]}
        h.progress(f"{section} done in {time.perf_counter() - t0:.0f} s")
    results["meta"]["seconds"] = round(time.perf_counter() - t_all, 1)
    results["meta"]["load_after"] = _loadavg()
    return results


def tables(results: dict[str, Any]) -> str:
    """The report's tables without the prose (for the terminal)."""
    text = report.render(results, png_name=None)
    start = text.find("## Targets")
    return text[start:] if start >= 0 else text


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m benchmarks`` and ``rawllm bench``.

    Args:
        argv: command-line arguments (without the program name).

    Returns:
        The exit status: 0, or 2 for bad arguments.

    Example:
        >>> main(["--quick", "--json", "quick.json"])  # doctest: +SKIP
        0
    """
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="rawllm against the vendor SDKs and the raw aiohttp floor.",
    )
    parser.add_argument("--quick", action="store_true", help="a few minutes instead of about 15")
    parser.add_argument(
        "--json", metavar="PATH", help="write the raw figures to PATH ('-': stdout)"
    )
    parser.add_argument("--versions", action="store_true", help="print versions and exit")
    parser.add_argument(
        "--only",
        metavar="SCENARIO",
        help=f"a section ({', '.join(SECTIONS + ON_REQUEST)}) or client scenario",
    )
    parser.add_argument(
        "--contenders", metavar="A,B", help=f"client contenders (default: all of {CONTENDERS})"
    )
    parser.add_argument(
        "--repetitions", type=int, metavar="N", help="client rounds (default: 3 quick, 5 full)"
    )
    parser.add_argument(
        "--calls-factor",
        type=int,
        default=1,
        metavar="K",
        help="K times the timed calls of every client scenario (steadier on a busy machine)",
    )
    parser.add_argument(
        "--light",
        metavar="A,B",
        default="",
        help="sections to run in their quick form within a full run (e.g. import,decode)",
    )
    parser.add_argument(
        "--report",
        nargs="?",
        const="",
        metavar="RESULTS.json",
        help="write docs/benchmarks.md and .png from RESULTS.json, or from a fresh run",
    )
    args = parser.parse_args(argv)

    if args.versions:
        print(json.dumps(versions(), indent=2))
        return 0
    if args.report:
        results = json.loads(Path(args.report).read_text())
    else:
        names = args.contenders.split(",") if args.contenders else None
        if names and (bad := [n for n in names if n not in CONTENDERS]):
            parser.error(f"unknown contender(s) {bad}; choose from {CONTENDERS}")
        cmd = "python -m benchmarks " + " ".join(argv if argv is not None else sys.argv[1:])
        light = frozenset(x for x in args.light.split(",") if x)
        if bad_s := sorted(light - set(SECTIONS)):
            parser.error(f"unknown section(s) {bad_s}; choose from {SECTIONS}")
        if args.calls_factor < 1:
            parser.error("--calls-factor must be at least 1")
        from benchmarks import bench_client

        bench_client.CALLS_FACTOR = args.calls_factor
        results = run_all(args.quick, args.only, names, args.repetitions, cmd.strip(), light=light)
    if args.json:
        text = json.dumps(results, indent=1)
        if args.json == "-":
            print(text)
        else:
            Path(args.json).write_text(text + "\n")
    if args.report is not None:
        md, png = report.write_docs(results, DOCS)
        h.progress(f"wrote {md}" + (f" and {png}" if png else ""))
    if args.json != "-":
        print(tables(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())

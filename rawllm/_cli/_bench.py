"""``rawllm bench``: run the benchmark suite of a source checkout (``benchmarks/``)."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import sys

from ._common import EXIT_FAILED, UsageError, err

__all__ = ["BENCH_MODULES", "add_parser", "missing_modules", "run"]

# What the [bench] extra installs, by import name: the contenders and the chart.
BENCH_MODULES = ("openai", "anthropic", "httpx", "httpx_sse", "matplotlib", "tenacity")


def missing_modules(names: tuple[str, ...] = BENCH_MODULES) -> list[str]:
    """The modules in ``names`` that cannot be imported (found without importing them)."""
    missing = []
    for name in names:
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):  # ValueError: sys.modules[name] is None
            found = False
        if not found:
            missing.append(name)
    return missing


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``bench`` (unknown arguments are passed on to the benchmarks)."""
    bench = sub.add_parser(
        "bench",
        help="run the benchmarks (quick by default; needs a source checkout)",
        description="Run the benchmark suite of a rawllm source checkout (benchmarks/), "
        "with --quick unless --full is given; other arguments are passed on to it "
        "(e.g. rawllm bench --json).",
    )
    bench.add_argument("--full", action="store_true", help="the full run instead of --quick")


def run(args: argparse.Namespace) -> int:
    """Run ``rawllm bench``: the checkout's ``benchmarks`` package, ``--quick`` by default."""
    import subprocess

    missing = missing_modules(BENCH_MODULES)
    if missing:
        err(
            "rawllm: error: 'rawllm bench' compares rawllm with the official SDKs and needs "
            f"the [bench] extra (missing: {', '.join(missing)}): pip install 'rawllm[bench]' "
            "(from a checkout: pip install -e '.[bench]')"
        )
        return EXIT_FAILED

    argv: list[str] = list(args.args)
    if argv[:1] == ["--"]:
        argv = argv[1:]
    if not args.full and "--quick" not in argv:
        argv.insert(0, "--quick")
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.append(cwd)
    try:
        module = importlib.import_module("benchmarks.__main__")
    except ModuleNotFoundError as exc:
        if exc.name not in ("benchmarks", "benchmarks.__main__"):
            raise
        module = None
    entry = getattr(module, "main", None)
    if callable(entry):
        code = entry(argv)
        return int(code or 0)
    if module is None and not os.path.isdir(os.path.join(cwd, "benchmarks")):
        raise UsageError(
            "the benchmarks live in a rawllm source checkout: run 'rawllm bench' from its root"
        )
    return subprocess.call([sys.executable, "-m", "benchmarks", *argv], cwd=cwd)

"""Import time: ``import rawllm`` against its four dependencies and the SDKs.

Each measurement is a fresh interpreter (pinned to the client core) that
times only the ``import`` statement, in CPU time (``time.process_time``, the
figure compared: robust on a shared machine) and wall time, so the
interpreter's own start-up is excluded and nothing is cached in memory
between runs (the OS file cache is warm after the first run, as it is for a
user).  litellm is timed in its own virtual environment.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import tempfile
from typing import Any

from benchmarks import _harness as h

TARGETS: dict[str, list[str]] = {
    "rawllm": ["rawllm"],
    "rawllm dependencies": ["aiohttp", "msgspec", "backoff", "aiolimiter"],
    "openai": ["openai"],
    "anthropic": ["anthropic"],
    "litellm": ["litellm"],
}

_SNIPPET = (
    "import os, time; os.environ.setdefault('LITELLM_LOCAL_MODEL_COST_MAP', 'True')\n"
    "c, t = time.process_time(), time.perf_counter()\n"
    "import {mods}\n"
    "print(time.process_time() - c, time.perf_counter() - t)"
)


_PYCACHE = os.path.join(tempfile.gettempdir(), "rawllm-bench-pycache")


def time_import(python: str, modules: list[str], cpus: list[int] | None) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of one import in a fresh interpreter."""
    code = _SNIPPET.format(mods=", ".join(modules))
    env = h.child_env()
    # Installed packages import from compiled bytecode (pip compiles it); the
    # source checkout must too, or rawllm pays for compiling itself on every
    # run while its dependencies do not.  The throwaway first round writes the
    # cache, outside the tree.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = _PYCACHE
    proc = subprocess.run(
        h.pinned([python, "-c", code], cpus),
        capture_output=True,
        text=True,
        cwd=h.ROOT,
        env=env,
        timeout=120,
    )
    if proc.returncode != 0:
        raise RuntimeError((proc.stderr.strip().splitlines() or ["failed"])[-1])
    cpu, wall = proc.stdout.strip().splitlines()[-1].split()
    return float(cpu), float(wall)


def run(quick: bool = False, repetitions: int | None = None) -> dict[str, Any]:
    """Median import time of each target over interleaved fresh interpreters.

    Args:
        quick: 3 repetitions and no litellm (its import alone takes seconds).
        repetitions: override the number of timed rounds (default 7, quick 3).
    """
    reps = repetitions or (3 if quick else 7)
    _, cpus = h.cpu_layout()
    out: dict[str, Any] = {"repetitions": reps, "results": {}, "skipped": {}}
    pythons: dict[str, str] = {}
    for name in TARGETS:
        if quick and name == "litellm":
            continue
        py, reason = h.contender_python("litellm" if name == "litellm" else "x")
        if py is None:
            out["skipped"][name] = reason
        else:
            pythons[name] = py
    samples: dict[str, list[float]] = {n: [] for n in pythons}
    walls: dict[str, list[float]] = {n: [] for n in pythons}
    # one throwaway round warms the OS file cache, then interleaved rounds
    for r in range(reps + 1):
        for name in h.rotated(list(pythons), r):
            if name in out["skipped"]:
                continue
            try:
                t, w = time_import(pythons[name], TARGETS[name], cpus)
            except Exception as exc:
                out["skipped"][name] = str(exc)[:300]
                continue
            if r:
                samples[name].append(t)
                walls[name].append(w)
    for name, s in samples.items():
        if s and name not in out["skipped"]:
            out["results"][name] = {
                "seconds": h.summarize(s),
                "wall_seconds": h.summarize(walls[name]),
                "modules": TARGETS[name],
            }
    deps = out["results"].get("rawllm dependencies")
    mine = out["results"].get("rawllm")
    if deps and mine:
        out["rawllm_vs_dependencies"] = (
            statistics.median(mine["seconds"]["samples"]) / deps["seconds"]["median"]
        )
    return out

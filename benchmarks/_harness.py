"""Parent-side machinery: servers, pinning, fresh child processes, statistics.

Method (after httpcore's and msgspec's benchmarks):

* the server is its own process, pinned to CPU 0; every client runs in a fresh
  process pinned to CPU 1 (``taskset`` when the machine has 2+ cores), so the
  client's CPU figures are its own and the server never competes for its core;
* each child warms up (connections opened, lazy imports done, caches filled)
  before anything is timed;
* contenders are interleaved: repetition ``r`` runs every contender once, in an
  order rotated by ``r``, so slow drift of the machine spreads over all of them;
* at least three repetitions; we report the median with the min and max.

The primary figure is client CPU time (user + system, ``time.process_time``)
per request or per stream event: unlike wall time it does not depend on what
else the machine is doing.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

ROOT = Path(__file__).resolve().parent.parent
CACHE_DIR = Path(os.environ.get("RAWLLM_BENCH_CACHE", Path.home() / ".cache" / "rawllm-bench"))
LITELLM_VENV = CACHE_DIR / "litellm-venv"


# --------------------------------------------------------------------- pinning


def cpu_layout() -> tuple[list[int] | None, list[int] | None]:
    """(server CPUs, client CPUs): one core each when there are at least two, else no pinning."""
    try:
        cpus = sorted(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return None, None
    if len(cpus) < 2:
        return None, None
    return [cpus[0]], [cpus[1]]


def pinned(cmd: Sequence[str], cpus: list[int] | None) -> list[str]:
    """Prefix ``cmd`` with ``taskset -c`` (the pinning is reported in the results)."""
    if cpus is None or shutil.which("taskset") is None:
        return list(cmd)
    return ["taskset", "-c", ",".join(map(str, cpus)), *cmd]


def child_env(extra_path: Iterable[str] = ()) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *extra_path, env.get("PYTHONPATH", "")])
    env.setdefault("PYTHONHASHSEED", "0")
    env["PYTHONWARNINGS"] = "ignore"  # SDK deprecation warnings would cost time on stderr
    return env


# ---------------------------------------------------------------------- server


class Server:
    """The benchmark target in its own process: ``python -m benchmarks.server``.

    ``headers`` is the header mode (``none``, ``loose``, ``binding``: see
    ``benchmarks.server``).  ``RAWLLM_BENCH_SERVER`` may name another command
    (the URL must be the first line it prints); ``{port}`` in it is replaced by 0.
    """

    def __init__(
        self,
        *,
        latency: float = 0.0,
        chunks: int = 200,
        cpus: list[int] | None,
        headers: str = "none",
        event_gap: float = 0.0,
    ) -> None:
        self.latency = latency
        self.chunks = chunks
        self.cpus = cpus
        self.headers = headers
        self.event_gap = event_gap
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""

    def command(self) -> list[str]:
        custom = os.environ.get("RAWLLM_BENCH_SERVER")
        if custom:
            base = custom.replace("{port}", "0").split()
        else:
            base = [sys.executable, "-m", "benchmarks.server", "--port", "0", "--uvloop"]
        opts = ["--chunks", str(self.chunks), "--headers", self.headers]
        if self.latency:
            opts += ["--latency", str(self.latency)]
        if self.event_gap:
            opts += ["--event-gap", str(self.event_gap)]
        return [*base, *opts]

    def __enter__(self) -> Server:
        self.proc = subprocess.Popen(
            pinned(self.command(), self.cpus),
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            cwd=ROOT,
            env=child_env(),
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().strip()
        if not line.startswith("http"):
            self.__exit__()
            raise RuntimeError(f"benchmark server did not print its URL (got {line!r})")
        self.url = line.split()[0].rstrip("/")
        if self.url.endswith("/v1"):
            self.url = self.url[: -len("/v1")]
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# --------------------------------------------------------------------- children


def contender_python(name: str) -> tuple[str | None, str | None]:
    """(interpreter, skip reason) for a contender; litellm lives in its own venv."""
    if name != "litellm":
        return sys.executable, None
    py = LITELLM_VENV / "bin" / "python"
    if py.exists():
        return str(py), None
    return (
        None,
        f"no litellm venv at {LITELLM_VENV} (the full run creates it)",
    )


def setup_litellm(log: TextIO = sys.stderr) -> str | None:
    """Create the litellm venv (litellm pins openai<3: it cannot share ours).

    Returns:
        None on success, else the reason to report litellm as skipped.
    """
    py = LITELLM_VENV / "bin" / "python"
    try:
        if not py.exists():
            subprocess.run([sys.executable, "-m", "venv", str(LITELLM_VENV)], check=True)
        subprocess.run(
            [str(py), "-m", "pip", "install", "-q", "litellm", "aiohttp", "msgspec"],
            check=True,
            stdout=log,
            stderr=log,
        )
    except (subprocess.CalledProcessError, OSError) as exc:
        return f"could not create the litellm venv: {exc}"
    return None


def run_child(
    name: str, spec: dict[str, Any], cpus: list[int] | None, timeout: float = 900
) -> dict[str, Any]:
    """Run one contender in a fresh pinned process; return its JSON answer."""
    py, reason = contender_python(name)
    if py is None:
        return {"contender": name, "skipped": reason, "results": {}}
    cmd = pinned([py, "-m", "benchmarks.contenders", name, json.dumps(spec)], cpus)
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, cwd=ROOT, env=child_env(), timeout=timeout
        )
    except subprocess.TimeoutExpired:
        return {"contender": name, "error": f"timed out after {timeout:.0f} s", "results": {}}
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
        return {"contender": name, "error": f"exit {proc.returncode}: {tail[:300]}", "results": {}}
    out: dict[str, Any] = json.loads(lines[-1])
    return out


def rotated(items: Sequence[str], r: int) -> list[str]:
    """Interleaving: repetition r starts at a different contender."""
    k = r % len(items) if items else 0
    return [*items[k:], *items[:k]]


# ------------------------------------------------------------------ statistics


@dataclass
class Stat:
    """Median and range of repeated samples."""

    samples: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    def as_dict(self) -> dict[str, Any]:
        return {
            "median": self.median,
            "min": min(self.samples),
            "max": max(self.samples),
            "samples": self.samples,
        }


def summarize(samples: list[float]) -> dict[str, Any]:
    return Stat(list(samples)).as_dict()


def progress(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)

"""Installed size: rawllm with its dependencies against its dependencies alone and the SDKs.

Sizes come from the installed files themselves: each distribution's RECORD
(``importlib.metadata.files``), every listed file that exists counted once,
over the closure of its ``Requires-Dist`` (environment markers evaluated, no
extras).  A distribution shared by two closures counts in each.  When rawllm is
installed in editable mode its RECORD lists no code, so its package directory
is measured instead: each ``.py`` file plus the ``.pyc`` this interpreter
compiles from it (what a wheel install writes), plus its dist-info.  litellm is
measured inside its own virtual environment (``python -m benchmarks.bench_size
litellm`` prints the JSON there).
"""

from __future__ import annotations

import json
import py_compile
import re
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any

from benchmarks import _harness as h

_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirements(dist: metadata.Distribution) -> list[str]:
    """Names of the distributions ``dist`` needs (markers evaluated, extras not taken)."""
    out = []
    for req in dist.requires or []:
        try:
            from packaging.requirements import Requirement

            r = Requirement(req)
            if r.marker is not None and not r.marker.evaluate({"extra": ""}):
                continue
            out.append(r.name)
        except ImportError:  # no packaging: drop anything with a marker naming an extra
            if "extra ==" in req:
                continue
            m = _NAME.match(req)
            if m:
                out.append(m.group(1))
    return out


def closure(names: list[str]) -> dict[str, metadata.Distribution]:
    """The distributions of ``names`` and everything they require, recursively."""
    seen: dict[str, metadata.Distribution] = {}
    todo = list(names)
    while todo:
        name = _norm(todo.pop())
        if name in seen:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue  # an optional dependency not installed here
        seen[name] = dist
        todo.extend(_requirements(dist))
    return seen


def _is_editable(dist: metadata.Distribution) -> bool:
    files = dist.files or []
    return not any(str(f).endswith(".py") and "dist-info" not in str(f) for f in files)


def dist_size(dist: metadata.Distribution) -> int:
    """Bytes of the files a distribution installed (its RECORD; its source tree if editable)."""
    total = 0
    files = dist.files or []
    editable = _is_editable(dist)
    for f in files:
        if editable and "dist-info" not in str(f):
            continue
        p = Path(str(dist.locate_file(f)))
        if p.is_file():
            total += p.stat().st_size
    if editable:
        total += _source_tree_size(dist.metadata["Name"])
    return total


def _source_tree_size(name: str) -> int:
    """Size of an editable package's .py files and their freshly compiled .pyc."""
    module = __import__(name.replace("-", "_"))
    root = Path(str(module.__file__)).parent
    total = 0
    with tempfile.TemporaryDirectory() as tmp:
        for i, p in enumerate(sorted(root.rglob("*"))):
            if "__pycache__" in p.parts or not p.is_file():
                continue
            total += p.stat().st_size
            if p.suffix == ".py":
                c = Path(tmp) / f"{i}.pyc"
                py_compile.compile(str(p), cfile=str(c), doraise=False)
                if c.exists():
                    total += c.stat().st_size
    return total


def measure(names: list[str]) -> dict[str, Any]:
    dists = closure(names)
    sizes = {n: dist_size(d) for n, d in sorted(dists.items())}
    return {
        "bytes": sum(sizes.values()),
        "distributions": {n: {"version": dists[n].version, "bytes": b} for n, b in sizes.items()},
    }


GROUPS: dict[str, list[str]] = {
    "rawllm": ["rawllm"],
    "rawllm dependencies": ["aiohttp", "msgspec", "backoff", "aiolimiter"],
    "openai": ["openai"],
    "openai[aiohttp]": ["openai", "aiohttp"],
    "anthropic": ["anthropic"],
}


def run(quick: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {"results": {}, "skipped": {}}
    for label, names in GROUPS.items():
        try:
            metadata.distribution(names[0])
        except metadata.PackageNotFoundError:
            out["skipped"][label] = f"{names[0]} is not installed"
            continue
        out["results"][label] = measure(names)
    py, reason = h.contender_python("litellm")
    if py is None:
        out["skipped"]["litellm"] = reason
    else:
        proc = subprocess.run(
            [py, "-m", "benchmarks.bench_size", "litellm"],
            capture_output=True,
            text=True,
            cwd=h.ROOT,
            env=h.child_env(),
            timeout=120,
        )
        if proc.returncode == 0:
            out["results"]["litellm"] = json.loads(proc.stdout)
        else:
            out["skipped"]["litellm"] = (proc.stderr.strip().splitlines() or ["failed"])[-1]
    mine, deps = out["results"].get("rawllm"), out["results"].get("rawllm dependencies")
    if mine and deps:
        out["rawllm_vs_dependencies"] = mine["bytes"] / deps["bytes"]
    return out


if __name__ == "__main__":
    print(json.dumps(measure(sys.argv[1:])))

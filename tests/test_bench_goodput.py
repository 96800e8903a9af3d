"""A reduced run of the goodput benchmark: every call answered, nothing timed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_goodput_benchmark_reduced_run_loses_nothing() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_goodput", "--json", "--n", "120",
         "--modes", "gateway-5%,tokens", "--only", "rawllm-learn"],
        cwd=ROOT, capture_output=True, text=True, timeout=180, check=True,
    )  # fmt: skip
    rows = json.loads(proc.stdout)["results"]
    assert [(r["mode"], r["contender"]) for r in rows] == [
        ("gateway-5%", "rawllm-learn"),
        ("tokens", "rawllm-learn"),
    ]
    for row in rows:
        assert row["requests"] == 120
        assert row["failed"] == 0, row
    by_mode = {r["mode"]: r for r in rows}
    assert by_mode["gateway-5%"]["answered_429"] > 0  # the mode really refused some
    assert by_mode["tokens"]["ideal"] is not None

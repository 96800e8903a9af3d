"""The benchmark report: its ratios and verdicts come from the figures, none are typed in."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks import report  # noqa: E402


def _stat(median: float, lo: float, hi: float) -> dict[str, Any]:
    return {"median": median, "min": lo, "max": hi, "samples": [lo, median, hi]}


def _results(rawllm_us: float, floor_us: float) -> dict[str, Any]:
    return {
        "meta": {"date": "2026-01-01 00:00 UTC", "command": "test", "quick": True},
        "client": {
            "repetitions": 3,
            "scenarios": {
                "chat_c1": {
                    "title": "chat completions, non-stream, concurrency 1",
                    "api": "chat",
                    "unit": "request",
                    "kind": "throughput",
                    "concurrency": 1,
                    "requests": 10,
                    "contenders": {
                        "floor": {
                            "cpu_us": _stat(floor_us, floor_us, floor_us),
                            "per_s": _stat(100, 100, 100),
                        },
                        "rawllm": {
                            "cpu_us": _stat(rawllm_us, rawllm_us, rawllm_us),
                            "per_s": _stat(100, 100, 100),
                        },
                        "openai": {
                            "cpu_us": _stat(floor_us * 8, floor_us * 8, floor_us * 8),
                            "per_s": _stat(50, 50, 50),
                        },
                    },
                }
            },
        },
    }


@pytest.mark.parametrize(("rawllm_us", "verdict"), [(180.0, "met"), (240.0, "missed by 20%")])
def test_ratios_and_verdicts_follow_the_figures(rawllm_us: float, verdict: str) -> None:
    text = report.render(_results(rawllm_us, 200.0), png_name=None)
    ratio = f"{rawllm_us / 200.0:.2f}x"
    rawllm_rows = [line for line in text.splitlines() if line.startswith("| **rawllm**")]
    assert rawllm_rows and ratio in rawllm_rows[0]
    target = [line for line in text.splitlines() if "(chat_c1)" in line]
    assert target and ratio in target[0] and verdict in target[0]
    assert f"{rawllm_us / 1600.0:.2f}x" in rawllm_rows[0]  # the "vs openai" column

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


def _paced(rawllm_us: float, paced_us: float, floor_us: float) -> dict[str, Any]:
    res = _results(100.0, 100.0)
    sc = res["client"]["scenarios"]
    sc["chat_c64_binding"] = {
        "title": "chat completions, non-stream, concurrency 64; binding",
        "api": "chat",
        "unit": "request",
        "kind": "throughput",
        "headers": "binding",
        "concurrency": 64,
        "requests": 10,
        "contenders": {
            name: {"cpu_us": _stat(v, v * 0.9, v * 1.1), "per_s": _stat(1, 1, 1)}
            for name, v in (("rawllm", rawllm_us), ("floor_paced", paced_us), ("floor", floor_us))
        },
    }
    sc["chat_c1"]["headers"] = "none"
    sc["chat_c64"] = dict(sc["chat_c1"], concurrency=64)
    return res


def test_where_the_pace_binds_the_paced_floor_is_the_reference() -> None:
    text = report.render(_paced(550.0, 500.0, 200.0), png_name=None)
    target = [line for line in text.splitlines() if "(chat_c64_binding)" in line]
    assert target and "floor_paced" in target[0] and "1.10x" in target[0]
    assert "missed by 5%" in target[0]  # 1.10 against the 1.05 limit
    # the headline table: ratio to the paced floor, the unpaced one in brackets
    row = [line for line in text.splitlines() if line.startswith("| OpenAI chat: as a large")]
    assert row and "1.10x (2.75x)" in row[0]
    # and the list of where rawllm is behind names it
    behind = text[text.index("## Where rawllm is behind") :]
    assert "| chat_c64_binding | floor_paced | 1.10x | within the spread" in behind


def test_the_readme_headline_comes_from_the_figures(tmp_path: Path) -> None:
    from benchmarks import report_scale

    readme = tmp_path / "README.md"
    readme.write_text(
        "# x\n\n<!-- headline:start -->\nold figures\n<!-- headline:end -->\n\nrest\n"
    )
    results = _paced(450.0, 500.0, 200.0)
    assert report_scale.write_readme(results, readme)
    text = readme.read_text()
    assert "old figures" not in text and text.endswith("\n\nrest\n")
    block = text[text.index("start -->") : text.index("<!-- headline:end")]
    assert "0.90x per request" in block  # 450 / 500, the paced floor
    assert "8x rawllm's" in block  # the openai SDK at 800 µs over rawllm's 100 µs
    no_markers = tmp_path / "OTHER.md"
    no_markers.write_text("nothing to replace\n")
    assert not report_scale.write_readme(results, no_markers)


def test_the_gap_per_call_is_split_into_the_measured_parts() -> None:
    """The "rest of the path" is what the parts leave of the gap: computed, never typed in."""
    results = _results(150.0, 150.0)
    results["instructions"] = {
        "modes": {
            "none": {"chat_c1": {"floor": {"per_call": 400_000}, "rawllm": {"per_call": 410_000}}},
            "loose": {
                "messages_c1": {"floor": {"per_call": 500_000}, "rawllm": {"per_call": 499_000}}
            },
        },
        "parts": {
            "command": "python -m benchmarks.bench_instructions --parts",
            "parts": {
                "answer_none": {"per_call": 7_000, "what": "learn"},
                "answer_loose_anthropic": {"per_call": 12_000, "what": "learn, Anthropic"},
                "answer_loose_openai": {"per_call": 99_999, "what": "not this one"},
                "decode_chat_rawllm": {"per_call": 9_000, "what": "decode"},
                "decode_chat_floor": {"per_call": 5_000, "what": "decode"},
                "decode_messages_rawllm": {"per_call": 6_000, "what": "decode"},
                "decode_messages_floor": {"per_call": 4_000, "what": "decode"},
            },
        },
    }
    text = report.render(results, png_name=None)
    assert "### Where a request's instructions go" in text
    assert "| answer_none | 7,000 | learn |" in text
    # 10,000 = 7,000 learning + 4,000 decoding - 1,000 elsewhere
    assert (
        "* chat_c1, none: rawllm counts +10,000 instructions per call against the floor: "
        "learning from the answer +7,000, decoding every field +4,000, "
        "the rest of its path -1,000." in text
    )
    # Anthropic's answer cost is used for the messages cell, not OpenAI's
    assert (
        "* messages_c1, loose: rawllm counts -1,000 instructions per call against the floor: "
        "learning from the answer +12,000, decoding every field +2,000, "
        "the rest of its path -15,000." in text
    )
    del results["instructions"]["parts"]
    assert "Where a request's instructions go" not in report.render(results, png_name=None)

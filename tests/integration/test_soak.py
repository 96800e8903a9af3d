"""A short soak in CI: mixed calls and streams, every fault kind, some cancellations.

Correctness counts only (no timing): every request ends in a success or a
typed rawllm error, none hangs, no success carries a wrong (truncated)
answer, and no connection is left checked out.
"""

from __future__ import annotations

from benchmarks.soak import FAULTS, soak


async def test_short_soak_ends_every_request_cleanly() -> None:
    report = await soak(
        requests=180, concurrency=48, fault_rate=0.4, cancel_rate=0.05, quiet=True, deadline=2.0
    )
    ends = report["ends"]
    assert report["untyped_examples"] == []
    assert ends["untyped_error"] == 0 and ends["hung"] == 0 and ends["wrong_answer"] == 0
    assert sum(ends[k] for k in ("success", "typed_error", "cancelled")) == 180
    assert ends["success"] > 0 and ends["typed_error"] > 0  # faults were really injected
    assert report["connections_busy_at_end"] == 0
    assert len(FAULTS) >= 15

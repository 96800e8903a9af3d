"""8 processes share one RedisStore budget while it changes and one of them is killed.

Runs ``benchmarks.bench_fleet.run_fleet`` briefly; the benchmark measures the
same fleet for longer.  Needs redis-server and the redis package (skipped with
the reason otherwise, a failure when RAWLLM_REQUIRE_REDIS=1).
"""

from __future__ import annotations

import os

import pytest

from benchmarks.bench_fleet import redis_missing, redis_server, run_fleet

pytestmark = pytest.mark.redis


def test_fleet_of_8_keeps_the_budget_through_a_change_and_a_kill() -> None:
    reason = redis_missing()
    if reason is not None:
        if os.environ.get("RAWLLM_REQUIRE_REDIS") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    schedule = [(0.0, 900.0), (1.5, 480.0)]  # 15/s, then 8/s
    with redis_server() as url:
        result = run_fleet(url, processes=8, schedule=schedule, duration=3.5, kill_at=2.0)
    assert result["exit_codes"][0] == -9 and result["exit_codes"][1:] == [0] * 7
    assert result["errors"] == 0
    # Every closed one-second window, across the change and the kill: within the budget.
    assert result["max_window_excess"] <= 0, result
    # A killed process holds nothing: it starts nothing more, the survivors keep the
    # whole budget busy (lenient here; the benchmark measures it).
    assert result["killed_starts_after_kill"] == 0
    assert result["after_kill_ratio"] >= 0.8, result
    assert result["answered"] <= result["starts"] <= result["allowed_by_budget"] + 2 * 2

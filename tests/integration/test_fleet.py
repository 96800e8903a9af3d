"""8 processes share one RedisStore budget while it changes and one of them is killed.

Runs ``benchmarks.bench_fleet.run_fleet`` briefly; the benchmark measures the
same fleet for longer.  Needs redis-server and the redis package (skipped with
the reason otherwise, a failure when RAWLLM_REQUIRE_REDIS=1).
"""

from __future__ import annotations

import bisect
import os
from pathlib import Path

import pytest
from test_cli import read_output, spawn, write_input

from benchmarks.bench_fleet import redis_missing, redis_server, run_fleet
from rawllm.testing import MockServer

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


def test_shards_on_two_hosts_share_one_budget(tmp_path: Path) -> None:
    reason = redis_missing()
    if reason is not None:
        if os.environ.get("RAWLLM_REQUIRE_REDIS") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    inp = tmp_path / "in.jsonl"
    write_input(inp, 50)
    server = MockServer().start_in_thread()
    try:
        with redis_server() as url:
            procs = [
                spawn(
                    "batch",
                    str(inp),
                    "-o",
                    str(tmp_path / f"out{k}.jsonl"),
                    "--shard",
                    f"{k}/2",
                    "--rpm",
                    "600",
                    "--redis",
                    url,
                    "--redis-key",
                    "t:shards",
                    "--base-url",
                    server.openai_base_url,
                    "--api-key",
                    "k",
                    cwd=tmp_path,
                )  # fmt: skip
                for k in (1, 2)
            ]
            for p in procs:
                _, stderr = p.communicate(timeout=120)
                assert p.returncode == 0, stderr
        arrivals = sorted(r.time for r in server.requests)
    finally:
        server.stop_thread()
    ids = [{x["custom_id"] for x in read_output(tmp_path / f"out{k}.jsonl")} for k in (1, 2)]
    assert not ids[0] & ids[1] and ids[0] | ids[1] == {f"req-{i}" for i in range(50)}
    # 1200 RPM shared: at most ceil(1200 / 60) + 1 starts in any one-second window
    # (as the server saw them: one more for scheduling noise on the way).
    worst = max(bisect.bisect_right(arrivals, t + 1.0) - i for i, t in enumerate(arrivals))
    assert worst <= 21 + 1

"""Pure tests of rawllm._ratelimit: a fake clock, no event loop, no sleeping."""

from __future__ import annotations

import bisect
import math
import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from multidict import CIMultiDict, CIMultiDictProxy

from rawllm._ratelimit import (
    DEFAULT_PAUSE,
    LEARNED_HEADROOM,
    MAX_PAUSE,
    Pacer,
    RateInfo,
    parse_duration,
    parse_reset,
    parse_rfc3339,
    pause_after_429,
    read_rate_headers,
)

# -- header parsing ------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("6m0s", 360.0),
        ("7.66s", 7.66),
        ("120ms", 0.12),
        ("1h2m3.5s", 3723.5),
        ("1m", 60.0),
        ("2h", 7200.0),
        ("500us", 0.0005),
        ("500µs", 0.0005),
        ("250ns", 2.5e-7),
        ("0s", 0.0),
        ("20", 20.0),
        ("0.5", 0.5),
        (" 17ms ", 0.017),
        (".5s", 0.5),
    ],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "abc", "5x", "-1", "-1s", "1s2", "s", "inf", "nan", "1 s"])
def test_parse_duration_rejects(text: str) -> None:
    assert parse_duration(text) is None


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-22T04:30:15Z",
        "2026-11-22T04:30:15.123Z",
        "2024-02-29T23:59:59.999999+00:00",
        "1999-12-31T23:00:00-05:30",
        "2026-01-01T00:00:00+14:00",
        "2026-11-22t04:30:15z",
    ],
)
def test_parse_rfc3339_matches_datetime(text: str) -> None:
    expected = datetime.fromisoformat(text.upper().replace("Z", "+00:00")).timestamp()
    assert parse_rfc3339(text) == pytest.approx(expected, abs=1e-6)


def test_parse_rfc3339_nanoseconds() -> None:
    # Anthropic-style timestamps may carry more than six fractional digits.
    assert parse_rfc3339("1970-01-01T00:00:01.123456789Z") == pytest.approx(1.123456789)


@given(st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(2200, 1, 1)))
def test_parse_rfc3339_any_date(dt: datetime) -> None:
    aware = dt.replace(tzinfo=UTC)
    assert parse_rfc3339(aware.isoformat()) == pytest.approx(aware.timestamp(), abs=1e-6)


@pytest.mark.parametrize(
    "text", ["", "2026-11-22", "2026-13-01T00:00:00Z", "2026-11-22T25:00:00Z", "yesterday"]
)
def test_parse_rfc3339_rejects(text: str) -> None:
    assert parse_rfc3339(text) is None


def test_parse_reset_forms() -> None:
    wall = 1_800_000_000.0
    later = datetime.fromtimestamp(wall + 42.5, tz=UTC).isoformat().replace("+00:00", "Z")
    assert parse_reset("6m0s", wall) == 360.0
    assert parse_reset("3", wall) == 3.0
    assert parse_reset(later, wall) == pytest.approx(42.5)
    earlier = datetime.fromtimestamp(wall - 10, tz=UTC).isoformat()
    assert parse_reset(earlier, wall) == 0.0
    assert parse_reset("soon", wall) is None


def _ci(d: dict[str, str]) -> CIMultiDictProxy[str]:
    return CIMultiDictProxy(CIMultiDict(d))


def test_read_openai_headers_case_insensitive() -> None:
    h = _ci(
        {
            "X-RateLimit-Limit-Requests": "600",
            "X-RateLimit-Remaining-Requests": "599",
            "X-RateLimit-Reset-Requests": "100ms",
            "X-RateLimit-Limit-Tokens": "150000",
            "X-RateLimit-Remaining-Tokens": "149000",
            "X-RateLimit-Reset-Tokens": "6m0s",
        }
    )
    assert read_rate_headers(h, 0.0) == RateInfo(600, 599, 0.1, 150000, 149000, 360.0)


def test_read_anthropic_headers_rfc3339() -> None:
    wall = 1_800_000_000.0

    def at(s: float) -> str:
        return datetime.fromtimestamp(wall + s, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    h = _ci(
        {
            "anthropic-ratelimit-requests-limit": "50",
            "anthropic-ratelimit-requests-remaining": "0",
            "anthropic-ratelimit-requests-reset": at(12),
            "anthropic-ratelimit-input-tokens-limit": "40000",
            "anthropic-ratelimit-input-tokens-remaining": "39000",
            "anthropic-ratelimit-input-tokens-reset": at(1),
            "anthropic-ratelimit-output-tokens-limit": "8000",
            "anthropic-ratelimit-output-tokens-remaining": "7000",
            "anthropic-ratelimit-output-tokens-reset": at(8),
        }
    )
    info = read_rate_headers(h, wall)
    assert info is not None
    assert (info.limit_requests, info.remaining_requests) == (50, 0)
    assert info.reset_requests == pytest.approx(12)
    # tokens: the most restrictive kind (output here)
    assert (info.limit_tokens, info.remaining_tokens) == (8000, 7000)
    assert info.reset_tokens == pytest.approx(8)


def test_read_anthropic_two_exhausted_token_kinds_waits_for_later_reset() -> None:
    h = {
        "anthropic-ratelimit-requests-remaining": "3",
        "anthropic-ratelimit-input-tokens-remaining": "0",
        "anthropic-ratelimit-input-tokens-reset": "1970-01-01T00:00:05Z",
        "anthropic-ratelimit-output-tokens-remaining": "0",
        "anthropic-ratelimit-output-tokens-reset": "1970-01-01T00:00:09Z",
    }
    info = read_rate_headers(h, 0.0)
    assert info is not None and info.remaining_tokens == 0
    assert info.reset_tokens == pytest.approx(9.0)


def test_read_headers_cheap_path_parses_only_exhausted_resets() -> None:
    h = {
        "x-ratelimit-limit-requests": "600",
        "x-ratelimit-remaining-requests": "0",
        "x-ratelimit-reset-requests": "2s",
        "x-ratelimit-remaining-tokens": "500",
        "x-ratelimit-reset-tokens": "9s",
    }
    assert read_rate_headers(h, 0.0, all_resets=False) == RateInfo(600, 0, 2.0, None, 500, None)
    assert read_rate_headers(h, 0.0).reset_tokens == 9.0  # type: ignore[union-attr]


def test_read_headers_none_and_garbage() -> None:
    assert read_rate_headers({"content-type": "application/json"}, 0.0) is None
    info = read_rate_headers({"x-ratelimit-remaining-requests": "lots"}, 0.0)
    assert info is None
    info = read_rate_headers(
        {"x-ratelimit-limit-requests": "60", "x-ratelimit-reset-requests": "never"}, 0.0
    )
    assert info == RateInfo(limit_requests=60)


def test_pause_after_429_precedence() -> None:
    info = RateInfo(remaining_requests=0, reset_requests=4.0, remaining_tokens=10, reset_tokens=9)
    assert pause_after_429({"retry-after-ms": "250", "retry-after": "3"}, 0.0, info) == 0.25
    assert pause_after_429({"retry-after": "3"}, 0.0, info) == 3.0
    wall = 1_800_000_000.0
    date = format_datetime(datetime.fromtimestamp(wall + 7, tz=UTC), usegmt=True)
    assert pause_after_429({"retry-after": date}, wall, None) == pytest.approx(7.0, abs=1.0)
    # exhausted budget's reset, not the other one's
    assert pause_after_429({}, 0.0, info) == 4.0
    both = RateInfo(remaining_requests=0, reset_requests=4.0, remaining_tokens=0, reset_tokens=9)
    assert pause_after_429({}, 0.0, both) == 9.0
    # nothing exhausted: the sooner reset
    assert pause_after_429({}, 0.0, RateInfo(reset_requests=2.0, reset_tokens=5.0)) == 2.0
    assert pause_after_429({"retry-after": "garbage"}, 0.0, None) == DEFAULT_PAUSE
    assert pause_after_429({"retry-after": "86400"}, 0.0, None) == MAX_PAUSE


# -- request pacing ------------------------------------------------------------


def _run(p: Pacer, n: int, now: float = 0.0, lateness: random.Random | None = None) -> list[float]:
    """A greedy caller: start as soon as allowed (optionally late, like real timers)."""
    starts = []
    for _ in range(n):
        now += p.delay(now)
        if lateness is not None:
            now += lateness.random() * 0.003
        assert p.delay(now) == 0.0
        p.start(1, now)
        starts.append(now)
    return starts


def _max_in_closed_window(starts: list[float], width: float = 1.0) -> int:
    best = 0
    for i, s in enumerate(starts):
        j = bisect.bisect_right(starts, s + width)
        best = max(best, j - i)
    return best


def test_first_start_is_free_and_next_is_spaced() -> None:
    p = Pacer(requests_per_minute=600)
    assert p.delay(100.0) == 0.0
    p.start(1, 100.0)
    assert p.delay(100.0) == pytest.approx(0.1)
    assert p.delay(100.05) == pytest.approx(0.05)
    assert p.delay(100.1) == 0.0


@pytest.mark.parametrize("rpm", [1, 30, 59, 60, 61, 90, 599, 600, 601, 1000, 1200, 3600, 7001])
@pytest.mark.parametrize("late", [False, True])
def test_one_second_window_bound(rpm: int, late: bool) -> None:
    n = max(30, min(3000, rpm // 2))
    starts = _run(Pacer(requests_per_minute=rpm), n, lateness=random.Random(rpm) if late else None)
    bound = math.ceil(rpm / 60) + 1
    assert _max_in_closed_window(starts) <= bound
    # and no burst at start-up: the first second holds no more than the bound either
    assert sum(1 for s in starts if s <= starts[0] + 1.0) <= bound
    # the pace is the budget, not slower
    if not late:
        assert (starts[-1] - starts[0]) == pytest.approx((n - 1) * 60 / rpm, rel=1e-9)


def test_closed_window_edge_is_reached_with_exact_spacing() -> None:
    # 60 rpm = one per second: a closed [t, t+1] window holds two starts (the
    # "+1" in the bound is needed), a half-open one holds one.
    starts = _run(Pacer(requests_per_minute=60), 10)
    assert _max_in_closed_window(starts) == 2
    assert max(sum(1 for s in starts if a <= s < a + 1.0) for a in starts) == 1


def test_idle_time_is_not_banked() -> None:
    p = Pacer(requests_per_minute=60)
    p.start(1, 0.0)
    # a long idle period does not allow a burst afterwards
    p.start(1, 500.0)
    assert p.delay(500.0) == pytest.approx(1.0)


def test_lateness_does_not_accumulate_but_idle_time_is_not_borrowed() -> None:
    p = Pacer(requests_per_minute=600)  # T = 0.1, slack = 0.05
    now = 0.0
    for _ in range(100):
        now += p.delay(now) + 0.004  # every timer fires 4 ms late
        p.start(1, now)
    assert now == pytest.approx(0.004 + 99 * 0.1 + 0.004)  # not 99 * 0.104
    late = now + p.delay(now) + 0.08  # 80 ms late: more than the slack, the schedule moves
    p.start(1, late)
    assert p.delay(late) == pytest.approx(0.1)


def test_unstart_latest_gives_the_slot_back_but_not_an_earlier_one() -> None:
    p = Pacer(requests_per_minute=60)
    p.start(1, 0.0)
    r2 = p.start(1, 1.0)
    assert p.delay(1.0) == pytest.approx(1.0)
    p.unstart(r2, 1.0)
    assert p.delay(1.0) == 0.0
    assert p.starts == 1
    r3 = p.start(1, 1.0)
    p.start(1, 2.0)
    p.unstart(r3, 2.0)  # not the latest: its request step stays spent
    assert p.delay(2.0) == pytest.approx(1.0)


# -- tokens --------------------------------------------------------------------


def test_token_debit_and_correction() -> None:
    p = Pacer(tokens_per_minute=6000)  # 100 tokens / s
    assert p.delay(0.0) == 0.0
    p.start(50, 0.0)
    assert p.delay(0.0) == pytest.approx(0.5)
    assert p.token_backlog(0.0) == pytest.approx(50)
    p.settle(50, 20, 0.0)  # refund
    assert p.delay(0.0) == pytest.approx(0.2)
    p.settle(20, 120, 0.0)  # extra debit
    assert p.delay(0.0) == pytest.approx(1.2)


def test_token_refund_never_banks_credit() -> None:
    p = Pacer(tokens_per_minute=6000)
    p.start(500, 0.0)
    p.settle(500, 10, 10.0)  # long after: nothing to refund into the future
    assert p.delay(10.0) == 0.0
    p.start(100, 10.0)
    assert p.delay(10.0) == pytest.approx(1.0)  # not less: no credit was banked


def test_extra_debit_is_booked_from_the_start() -> None:
    p = Pacer(tokens_per_minute=6000)  # 100 tokens / s
    r = p.start(0, 0.0)  # estimated at nothing (no budget known yet, say)
    p.settle(0, 150, 1.0, started=r[3])  # answered a second later: 150 used
    assert p.delay(1.0) == pytest.approx(0.5)  # 1.5 s from the start, not from now
    q = Pacer(tokens_per_minute=6000)
    q.start(0, 0.0)
    q.settle(0, 50, 1.0, started=0.0)  # the budget refilled meanwhile: no wait
    assert q.delay(1.0) == 0.0


def test_big_request_is_not_held_back_by_its_size() -> None:
    # Starting depends only on the budget's state, never on the size asked
    # for: a huge request can't be starved by a stream of small ones.
    p = Pacer(tokens_per_minute=6000)
    assert p.delay(0.0) == 0.0
    p.start(100_000, 0.0)
    assert p.delay(0.0) == pytest.approx(1000.0)


def test_tokens_over_a_long_run_match_the_budget() -> None:
    rng = random.Random(7)
    p = Pacer(requests_per_minute=6000, tokens_per_minute=60_000)  # 1000 tokens / s
    now, spent = 0.0, 0
    for _ in range(2000):
        now += p.delay(now)
        cost = rng.randint(10, 500)
        p.start(cost, now)
        spent += cost
    assert spent / now == pytest.approx(1000, rel=0.05)


def test_request_and_token_budgets_both_apply() -> None:
    p = Pacer(requests_per_minute=60, tokens_per_minute=60)  # 1 request/s, 1 token/s
    p.start(5, 0.0)
    assert p.delay(0.0) == pytest.approx(5.0)  # tokens bind
    p.settle(5, 0, 0.0)
    assert p.delay(0.0) == pytest.approx(1.0)  # now requests bind


def test_hypothesis_spacing_holds_through_penalties() -> None:
    # The bound must hold however 429s, learning and settles interleave.
    @given(
        st.lists(
            st.tuples(st.sampled_from(["start", "429", "learn", "idle"]), st.floats(0, 3)),
            max_size=200,
        ),
        st.integers(30, 5000),
    )
    def check(ops: list[tuple[str, float]], rpm: int) -> None:
        p = Pacer(requests_per_minute=rpm)
        now, starts = 0.0, []
        for op, x in ops:
            if op == "start":
                now += p.delay(now)
                p.start(int(x * 100), now)
                starts.append(now)
            elif op == "429":
                p.refused(now, None, x, 0.5)
            elif op == "learn":
                p.learn(RateInfo(limit_requests=rpm * 2), now)
            else:
                now += x
        assert _max_in_closed_window(starts) <= math.ceil(rpm / 60) + 1

    check()


def test_timedelta_helper_sanity() -> None:
    # guards the test helpers above against a broken strftime round trip
    base = datetime(2026, 1, 1, tzinfo=UTC)
    text = (base + timedelta(seconds=90)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert parse_rfc3339(text) == base.timestamp() + 90


def test_edge_cases_of_parsing_and_accounting() -> None:
    # a garbage retry-after-ms falls back to Retry-After
    assert pause_after_429({"retry-after-ms": "soon", "retry-after": "2"}, 0.0, None) == 2.0
    # two exhausted Anthropic token kinds, the first reset unreadable: the other one counts
    h = {
        "anthropic-ratelimit-input-tokens-remaining": "0",
        "anthropic-ratelimit-input-tokens-reset": "garbage",
        "anthropic-ratelimit-output-tokens-remaining": "0",
        "anthropic-ratelimit-output-tokens-reset": "1970-01-01T00:00:04Z",
    }
    assert read_rate_headers(h, 0.0).reset_tokens == 4.0  # type: ignore[union-attr]
    h["anthropic-ratelimit-output-tokens-reset"] = "garbage"
    h["anthropic-ratelimit-input-tokens-reset"] = "1970-01-01T00:00:03Z"
    assert read_rate_headers(h, 0.0).reset_tokens == 3.0  # type: ignore[union-attr]
    # unstart gives tokens back too (never before now)
    p = Pacer(tokens_per_minute=6000)
    r = p.start(300, 0.0)
    p.unstart(r, 0.0)
    assert p.delay(0.0) == 0.0
    # without a token budget, settle changes nothing
    q = Pacer(requests_per_minute=60)
    q.start(10, 0.0)
    q.settle(10, 10_000, 0.0)
    assert q.delay(0.0) == pytest.approx(1.0)


# -- a configured budget and the same limit learned from headers ---------------


def test_configured_budget_is_not_cut_by_the_same_limit_learned() -> None:
    # the user configured 6,000 RPM / 360,000 TPM and the server advertises exactly
    # that: the configured pace stands (before: the learned headroom ran it 4% slow)
    p = Pacer(requests_per_minute=6000, tokens_per_minute=360_000)
    p.learn(RateInfo(limit_requests=6000, limit_tokens=360_000), 0.0)
    p.arm(0.0, 0)
    assert p.request_rate(0.0) == pytest.approx(100.0)
    assert p.token_rate(0.0) == pytest.approx(6000.0)
    # a server advertising less than configured (a lower tier, a halved budget) wins,
    # with its headroom
    p.learn(RateInfo(limit_requests=3000, limit_tokens=180_000), 1.0)
    assert p.request_rate(1.0) == pytest.approx(50.0 * (1 - LEARNED_HEADROOM))
    assert p.token_rate(1.0) == pytest.approx(3000.0 * (1 - LEARNED_HEADROOM))


def test_arming_does_not_charge_starts_the_configured_pace_spaced_already() -> None:
    # 40 starts at the configured 100 / s, then the learned limit (the same) arms:
    # before, those 40 were charged again and the next start waited 0.4 s
    p = Pacer(requests_per_minute=6000)
    p.learn(RateInfo(limit_requests=6000), 0.0)
    t = 0.0
    for _ in range(40):
        t = max(t, t + p.delay(t))
        p.start(1, t)
    assert p.near(t, 40)
    p.arm(t, 40)
    assert p.delay(t) == pytest.approx(0.01, abs=1e-9)  # one interval, not 40
    # a free burst (nothing paced it) is charged: no second's budget on top of it
    q = Pacer()
    q.learn(RateInfo(limit_requests=6000), 0.0)
    q.arm(0.1, 64)
    assert q.delay(0.1) == pytest.approx(64 / (100 * (1 - LEARNED_HEADROOM)))

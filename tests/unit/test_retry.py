"""Unit tests of the pure retry policy: fake clock values, seeded RNGs, no sleeping."""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime
from email.utils import format_datetime
from itertools import islice

import backoff
import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from rawllm._ratelimit_headers import explicit_wait
from rawllm._retry import (
    MIN_ATTEMPT_TIME,
    RetryPolicy,
    attempt_budget,
    retry_after,
    should_retry,
    stated_wait,
)

NOW = 1_700_000_000.0  # a fixed wall-clock "now", epoch seconds
SEEDS = range(200)


def http_date(epoch: float) -> str:
    return format_datetime(datetime.fromtimestamp(epoch, UTC), usegmt=True)


def decide(policy: RetryPolicy | None = None, *, seed: int = 0, **kw: object) -> float | None:
    args: dict[str, object] = {
        "retries_done": 0,
        "status": 503,
        "headers": None,
        "now": NOW,
        "time_left": None,
        "rng": random.Random(seed),
    }
    args.update(kw)
    return (policy or RetryPolicy()).decide(**args)  # type: ignore[arg-type]


# -- backoff.expo is used as a pure piece: pin its priming yield ---------------


def test_backoff_expo_has_a_priming_yield() -> None:
    gen = backoff.expo(base=2, factor=0.5, max_value=8.0)
    assert next(gen) is None  # the bare `yield` that _retry skips
    assert list(islice(gen, 7)) == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]


# -- which outcomes retry --------------------------------------------------------


@pytest.mark.parametrize("status", [408, 409, 429, 500, 502, 503, 504, 529])
def test_retried_statuses(status: int) -> None:
    assert should_retry(status, {})
    assert decide(status=status) is not None


@pytest.mark.parametrize("status", [400, 401, 403, 404, 413, 422])
def test_not_retried_statuses(status: int) -> None:
    assert not should_retry(status, {})
    assert not should_retry(status, None)
    assert decide(status=status, headers={"retry-after": "1"}) is None


def test_connection_error_or_timeout_is_retried() -> None:
    assert should_retry(None, None)
    assert decide(status=None, headers=None) is not None


@pytest.mark.parametrize("value", ["true", "True", " TRUE "])
def test_x_should_retry_true_overrides_a_final_status(value: str) -> None:
    assert should_retry(400, {"x-should-retry": value})
    assert decide(status=400, headers={"x-should-retry": value}) is not None


@pytest.mark.parametrize("status", [None, 409, 429, 500, 529])
def test_x_should_retry_false_overrides_a_retryable_status(status: int | None) -> None:
    assert not should_retry(status, {"x-should-retry": "false"})
    assert decide(status=status, headers={"x-should-retry": "false"}) is None


def test_x_should_retry_other_values_fall_back_to_the_status_rule() -> None:
    assert should_retry(503, {"x-should-retry": "maybe"})
    assert not should_retry(404, {"x-should-retry": "1"})


def test_max_retries_is_honoured() -> None:
    policy = RetryPolicy(max_retries=3)
    assert [decide(policy, retries_done=n) is not None for n in range(5)] == [
        True,
        True,
        True,
        False,
        False,
    ]
    assert decide(RetryPolicy(max_retries=0)) is None


# -- the server's wait -----------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after-ms": "1500"}, 1.5),
        ({"retry-after-ms": "250.5"}, 0.2505),
        ({"retry-after": "7"}, 7.0),
        ({"retry-after": "2.5"}, 2.5),
        ({"retry-after": " 3 "}, 3.0),
        ({"retry-after-ms": "100", "retry-after": "9"}, 0.1),  # ms wins
        ({"retry-after-ms": "soon", "retry-after": "9"}, 9.0),  # bad ms: fall through
        ({"retry-after": http_date(NOW + 30)}, 30.0),
        ({"retry-after": http_date(NOW - 30)}, 0.0),  # date in the past
        ({"retry-after": "Wed, 21 Oct 2015 07:28:00 -0000"}, 0.0),  # naive zone read as GMT
        ({"retry-after": "-5"}, 0.0),
        ({"retry-after-ms": "-1"}, 0.0),
    ],
)
def test_retry_after_header_forms(headers: dict[str, str], expected: float) -> None:
    assert retry_after(headers, NOW) == pytest.approx(expected)


def test_retry_after_naive_date_is_gmt(monkeypatch: pytest.MonkeyPatch) -> None:
    # "-0000" gives a naive datetime; it must not be read in the local zone.
    text = http_date(NOW + 12).replace("GMT", "-0000")
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        assert retry_after({"retry-after": text}, NOW) == pytest.approx(12.0)
    finally:
        monkeypatch.undo()
        time.tzset()


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"retry-after": ""},
        {"retry-after": "soon"},
        {"retry-after": "nan"},
        {"retry-after": "inf"},
        {"retry-after-ms": "1e400"},
        {"retry-after": "Mon, 99 Foo 2024 99:99:99 GMT"},
        {"x-other": "5"},
    ],
)
def test_retry_after_garbage_is_none(headers: dict[str, str]) -> None:
    assert retry_after(headers, NOW) is None


def test_garbage_retry_after_falls_back_to_backoff() -> None:
    wait = decide(status=429, headers={"retry-after": "soon"})
    assert wait is not None and 0.25 <= wait < 0.5


@pytest.mark.parametrize(
    ("headers", "asked"),
    [
        ({"retry-after-ms": "1500"}, 1.5),
        ({"retry-after": "7"}, 7.0),
        ({"retry-after": "0.25"}, 0.25),
        ({"retry-after": "0"}, 0.0),
        ({"retry-after": "60"}, 60.0),
        ({"retry-after": http_date(NOW + 20)}, 20.0),
        ({"retry-after": http_date(NOW - 20)}, 0.0),
    ],
)
def test_server_wait_is_honoured_with_bounded_jitter(headers: dict[str, str], asked: float) -> None:
    spread = min(1.0, 0.05 + 0.1 * asked)
    waits: list[float] = []
    for seed in SEEDS:
        wait = decide(status=429, headers=headers, seed=seed)
        assert wait is not None
        assert asked <= wait < asked + spread  # never shorter than asked
        waits.append(wait)
    assert len(set(waits)) > 100  # the jitter actually spreads clients out
    assert max(waits) - min(waits) > spread / 2


def test_server_wait_beats_backoff_even_on_a_late_retry() -> None:
    wait = decide(retries_done=1, status=503, headers={"retry-after": "3"})
    assert wait is not None and 3.0 <= wait < 3.35


@pytest.mark.parametrize(
    "headers",
    [
        {"retry-after": "61"},
        {"retry-after-ms": "60001"},
        {"retry-after": "3600"},
        {"retry-after": http_date(NOW + 120)},
    ],
)
def test_server_wait_above_the_cap_gives_up_at_once(headers: dict[str, str]) -> None:
    assert decide(status=429, headers=headers) is None
    # ... unless the cap is raised.
    assert decide(RetryPolicy(max_retry_after=7200), status=429, headers=headers) is not None


# -- backoff ---------------------------------------------------------------------


def test_backoff_jitter_covers_its_range() -> None:
    policy = RetryPolicy(initial_delay=1.0, max_delay=8.0)
    first = [decide(policy, seed=s) for s in SEEDS]
    assert all(w is not None for w in first)
    waits = [w for w in first if w is not None]
    assert min(waits) < 0.55 and max(waits) > 0.95


def test_backoff_is_reproducible_from_the_seed() -> None:
    policy = RetryPolicy(max_retries=10)

    def waits(seed: int) -> list[float | None]:
        return [decide(policy, retries_done=n, seed=seed) for n in range(6)]

    assert waits(42) == waits(42) != waits(43)


def test_decide_backoff_follows_retries_done() -> None:
    policy = RetryPolicy(max_retries=10, initial_delay=0.5, max_delay=8.0)
    for n, step in enumerate([0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]):
        for seed in range(50):
            wait = decide(policy, retries_done=n, seed=seed)
            assert wait is not None and step / 2 <= wait < step


def test_custom_delays() -> None:
    policy = RetryPolicy(max_retries=5, initial_delay=2.0, max_delay=3.0)
    waits = [decide(policy, retries_done=n) for n in range(3)]
    assert waits[0] is not None and 1.0 <= waits[0] < 2.0
    assert all(w is not None and 1.5 <= w < 3.0 for w in waits[1:])


# -- the deadline ----------------------------------------------------------------


def test_no_deadline_means_no_clipping() -> None:
    assert decide(status=429, headers={"retry-after": "59"}, time_left=None) is not None


def test_server_wait_past_the_deadline_gives_up() -> None:
    assert decide(status=429, headers={"retry-after": "5"}, time_left=5.0) is None
    assert decide(status=429, headers={"retry-after": "5"}, time_left=4.0) is None
    wait = decide(status=429, headers={"retry-after": "5"}, time_left=10.0)
    assert wait is not None and 5.0 <= wait < 10.0 - MIN_ATTEMPT_TIME


def test_backoff_past_the_deadline_gives_up() -> None:
    # The first backoff wait is in [0.25, 0.5).
    assert decide(time_left=0.2) is None
    assert decide(time_left=0.0) is None
    assert decide(time_left=-1.0) is None
    assert decide(time_left=0.5 + MIN_ATTEMPT_TIME) is not None


def test_a_sliver_of_deadline_is_not_worth_an_attempt() -> None:
    for seed in SEEDS:
        wait = decide(status=429, headers={"retry-after": "1"}, seed=seed)
        assert wait is not None
        # Exactly enough for the wait but less than the floor after it: give up.
        left = wait + MIN_ATTEMPT_TIME / 2
        assert decide(status=429, headers={"retry-after": "1"}, seed=seed, time_left=left) is None
        left = wait + MIN_ATTEMPT_TIME * 1.01
        got = decide(status=429, headers={"retry-after": "1"}, seed=seed, time_left=left)
        assert got == wait


def test_attempt_budget() -> None:
    assert attempt_budget(None, None, 100.0) is None
    assert attempt_budget(10.0, None, 100.0) == 10.0  # deadline not fixed yet
    assert attempt_budget(10.0, 110.0, 100.0) == 10.0
    assert attempt_budget(10.0, 110.0, 107.5) == 2.5
    assert attempt_budget(10.0, 110.0, 110.0) == 0.0
    assert attempt_budget(10.0, 110.0, 111.0) == -1.0  # passed
    assert attempt_budget(None, 110.0, 104.0) == 6.0
    assert attempt_budget(5.0, 110.0, 100.0) == 5.0  # never more than total


# -- headers: case-insensitive ---------------------------------------------------


def test_aiohttp_style_headers_any_case() -> None:
    raw = CIMultiDict([("Retry-After", "4"), ("X-Should-Retry", "true")])
    headers = CIMultiDictProxy(raw)
    assert retry_after(headers, NOW) == 4.0
    assert should_retry(400, headers)
    wait = decide(status=400, headers=headers)
    assert wait is not None and 4.0 <= wait < 4.5
    ms = CIMultiDictProxy(CIMultiDict([("RETRY-AFTER-MS", "20")]))
    assert retry_after(ms, NOW) == pytest.approx(0.02)


def test_plain_dict_title_case_headers() -> None:
    assert retry_after({"Retry-After": "4"}, NOW) == 4.0
    assert retry_after({"Retry-After-Ms": "20"}, NOW) == pytest.approx(0.02)
    assert not should_retry(503, {"X-Should-Retry": "false"})


# -- configuration ---------------------------------------------------------------


def test_defaults_match_the_contract() -> None:
    policy = RetryPolicy()
    assert (policy.max_retries, policy.initial_delay, policy.max_delay) == (2, 0.5, 8.0)
    assert policy.max_retry_after == 60.0
    with pytest.raises(AttributeError):
        policy.max_retries = 5  # type: ignore[misc]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_retries": -1},
        {"initial_delay": 0.0},
        {"initial_delay": 10.0, "max_delay": 8.0},
        {"max_retry_after": -1.0},
    ],
)
def test_invalid_policy(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]


# -- a refusal for concurrency that says so (LiteLLM's max_parallel_requests) ----


def test_litellm_concurrency_refusal_waits_the_backoff_not_its_rate_window() -> None:
    # LiteLLM's proxy states retry-after: 60 (its rate window) on a max_parallel_requests
    # overflow; a slot frees when any call in flight ends, so the usual backoff applies
    litellm = CIMultiDictProxy(
        CIMultiDict({"Retry-After": "60", "rate_limit_type": "max_parallel_requests"})
    )
    assert stated_wait(litellm, NOW) is None
    assert explicit_wait(litellm, NOW, None) is None  # no shared pause from it either
    waits = [decide(status=429, headers=litellm, seed=s) for s in range(20)]
    assert all(w is not None and 0.25 <= w < 0.5 for w in waits)
    # the same wait for a rate limit (or without the header) is waited out
    rate = {"retry-after": "60", "rate_limit_type": "requests"}
    assert stated_wait(rate, NOW) == 60.0 and explicit_wait(rate, NOW, None) == 60.0
    w = decide(status=429, headers=rate)
    assert w is not None and w >= 60.0

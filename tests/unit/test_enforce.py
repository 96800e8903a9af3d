"""MockServer's enforcement modes, pure: windows, charged refusals, gateway, cap, change."""

from __future__ import annotations

import json

import pytest

from rawllm.testing._enforce import Enforcement, Enforcer, Windowed, make_budget, rescale
from rawllm.testing._faults import Bucket
from rawllm.testing._strict import debit, refusal_body


def test_window_admits_a_windows_share_and_reports_per_minute() -> None:
    w = Windowed(600, window=1.0, now=0.0)
    passed = 0
    for k in range(30):  # 30 requests in the first 0.3 s
        if w.wait_for(1, k * 0.01) == 0.0:
            w.take(1)
            passed += 1
    assert passed == 10  # 600 RPM enforced as 10 per second
    assert w.wait_for(1, 0.5) == pytest.approx(0.5)  # until the next window
    assert w.wait_for(1, 1.0) == 0.0
    assert w.remaining(1.0) == 600 - 10 + 10  # the minute bucket refilled 10 in 1 s
    assert w.limit == 600


def test_window_admits_one_big_request_in_an_empty_window() -> None:
    w = Windowed(6000, window=1.0, now=0.0)  # 100 tokens per window
    assert w.wait_for(500, 0.0) == 0.0
    w.take(500)
    assert w.wait_for(1, 0.1) == pytest.approx(0.9)


def test_charge_rejected_debits_refusals_too() -> None:
    for charge, expect in ((False, 1), (True, 3)):
        buckets = (Bucket(60, 0.0), None)  # 1 / s, burst 1
        for _ in range(3):
            debit(buckets, False, 1, 0.0, 0.0, charge)
        _, wait, _ = debit(buckets, False, 1, 0.0, 0.0)
        # uncharged: one second to the next token; charged: the refusals dug a hole
        assert wait == pytest.approx(expect)


def test_enforcer_concurrency_cap_and_gateway() -> None:
    enf = Enforcer(Enforcement(max_concurrency=4))
    assert enf.refusal(4, anthropic=False) is None
    assert enf.refusal(5, anthropic=False) == (429, "Too many concurrent requests", None, None)
    assert enf.refusal(5, anthropic=True) == (529, None, None, None)
    gw = Enforcer(Enforcement(gateway_429=0.25, seed=3))
    answers = [gw.refusal(1, False) for _ in range(4000)]
    refused = [a for a in answers if a is not None]
    assert 0.2 < len(refused) / 4000 < 0.3
    assert refused[0] == (429, "Too Many Requests", [("retry-after", "0.2")], None)
    quiet = Enforcer(Enforcement(gateway_429=1.0, gateway_retry_after=None))
    assert quiet.refusal(1, False) == (429, "Too Many Requests", None, None)


def test_enforcer_concurrency_cap_refused_as_litellm_does() -> None:
    # LiteLLM's parallel_request_limiter_v3: 429 on every route, retry-after = its window
    enf = Enforcer(Enforcement(max_concurrency=4, concurrency_retry_after=60))
    assert enf.refusal(4, anthropic=False, wall=0.0) is None
    for anthropic in (False, True):
        refusal = enf.refusal(5, anthropic=anthropic, wall=0.0)
        assert refusal is not None
        status, message, headers, _ = refusal
        assert status == 429 and headers is not None
        assert message is not None and "Limit type: max_parallel_requests" in message
        assert ("retry-after", "60") in headers
        assert ("rate_limit_type", "max_parallel_requests") in headers
        assert ("reset_at", "1970-01-01 00:01:00 UTC") in headers
    assert enf.stated(1) is None  # no headers on successes unless asked


def test_enforcer_states_the_cap_on_successes_as_litellm_v3_does() -> None:
    # async_post_call_success_hook: x-ratelimit-{descriptor}-{limit,remaining}-{type};
    # remaining = limit - the key's calls in flight, this one included
    enf = Enforcer(Enforcement(max_concurrency=4, concurrency_headers=True))
    assert enf.stated(3) == {
        "x-ratelimit-api_key-limit-max_parallel_requests": "4",
        "x-ratelimit-api_key-remaining-max_parallel_requests": "1",
    }
    assert Enforcer(Enforcement(max_concurrency=4)).stated(3) is None


def test_enforcer_refuses_as_ollama_does_when_its_queue_is_full() -> None:
    # server/sched.go ErrMaxQueue -> server/routes.go handleScheduleError: 503, no
    # Retry-After; the OpenAI layer calls it api_error, the Anthropic one overloaded_error
    enf = Enforcer(Enforcement(max_concurrency=4, queue_503=True))
    assert enf.refusal(4, anthropic=False) is None
    message = "server busy, please try again.  maximum pending requests exceeded"
    assert enf.refusal(5, anthropic=False) == (503, message, None, "api_error")
    assert enf.refusal(5, anthropic=True) == (503, message, None, "overloaded_error")


def test_budget_change_mid_run_halves_and_keeps_what_was_used() -> None:
    enf = Enforcer(Enforcement(change_after=10.0, change_factor=0.5))
    b = (make_budget(600, 0.0, None), make_budget(60_000, 0.0, None))
    assert enf.budgets(b, 0.0) is b and enf.budgets(b, 9.9) is b
    changed = enf.budgets(b, 10.0)
    assert changed[0] is not None and changed[0].limit == 300
    assert changed[1] is not None and changed[1].limit == 30_000
    assert enf.budgets(changed, 20.0) is changed  # once
    w = Windowed(600, 1.0, 0.0)
    w.take(5)
    half = rescale(w, 0.5, 0.5, 1.0)
    assert isinstance(half, Windowed) and half.allowed == 5
    assert half.wait_for(1, 0.5) == pytest.approx(0.5)  # the 5 used fill the halved window
    assert rescale(None, 0.5, 0.0, None) is None


def test_enforcement_validates() -> None:
    both = {"max_concurrency": 2, "queue_503": True, "concurrency_retry_after": 60.0}
    for bad in ({"window": 0}, {"gateway_429": 1.5}, {"max_concurrency": 0},
                {"change_factor": 0}, {"concurrency_retry_after": -1.0},
                {"concurrency_headers": True}, {"queue_503": True}, both):  # fmt: skip
        with pytest.raises(ValueError):
            Enforcement(**bad)  # type: ignore[arg-type]


def test_openai_429_body_reads_like_openais() -> None:
    body = json.loads(refusal_body(False, "requests", 3, 1, 20.0, used=3))
    err = body["error"]
    assert err["message"].startswith(
        "Rate limit reached for default-model in organization org-mock on requests per min "
        "(RPM): Limit 3, Used 3, Requested 1. Please try again in 20s."
    )
    assert (err["type"], err["param"], err["code"]) == ("requests", None, "rate_limit_exceeded")
    anth = json.loads(refusal_body(True, "tokens", 1000, 50, 2.0))
    assert anth["type"] == "error" and anth["error"]["type"] == "rate_limit_error"

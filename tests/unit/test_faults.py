"""Pure tests of MockServer's fault-script parser, plan queues and strict-provider budget."""

from __future__ import annotations

import ast
import math
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rawllm.testing import _faults
from rawllm.testing._faults import (
    Bucket,
    FaultPlan,
    Step,
    format_duration,
    format_rfc3339,
    parse_script,
    retry_headers,
)


def test_module_is_pure():
    tree = ast.parse(Path(_faults.__file__).read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert not imported & {"aiohttp", "asyncio", "time", "random"}


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        ("ok", [Step("ok")]),
        ("429", [Step("status", status=429)]),
        ("429:retry-after=2", [Step("status", status=429, retry_after=2.0)]),
        ("429:retry-after=0.5", [Step("status", status=429, retry_after=0.5)]),
        ("429:retry-after-ms=150", [Step("status", status=429, retry_after_ms=150)]),
        ("429:retry-after-date=3", [Step("status", status=429, retry_after_date=3.0)]),
        ("503:x-should-retry=false", [Step("status", status=503, should_retry=False)]),
        ("400:x-should-retry=true", [Step("status", status=400, should_retry=True)]),
        ("reset", [Step("reset")]),
        ("reset-after-headers", [Step("reset-after-headers")]),
        ("stall", [Step("stall", seconds=math.inf)]),
        ("stall=5", [Step("stall", seconds=5.0)]),
        ("malformed", [Step("malformed")]),
        ("badshape", [Step("badshape")]),
        ("html502", [Step("html502")]),
        ("nostream", [Step("nostream")]),
        ("cut@3", [Step("cut@", events=3)]),
        ("error@0", [Step("error@", events=0)]),
        ("error@2=rate_limit_error", [Step("error@", events=2, error_type="rate_limit_error")]),
        ("stall@4=1.5", [Step("stall@", events=4, seconds=1.5)]),
        (
            " 429 , 500,OK ",
            [Step("status", status=429), Step("status", status=500), Step("ok")],
        ),
        (
            "529:retry-after=1:x-should-retry=true",
            [Step("status", status=529, retry_after=1.0, should_retry=True)],
        ),
    ],
)
def test_parse_each_step(script, expected):
    assert list(parse_script(script)) == expected


@pytest.mark.parametrize("script", [None, "", "   "])
def test_empty_script(script):
    assert parse_script(script) == ()


@pytest.mark.parametrize(
    "script",
    [
        "42",
        "4290",
        "600",
        "teapot",
        "429,,ok",
        "429:retry-after",
        "429:retry-after=soon",
        "429:retry-after=-1",
        "429:retry-after=nan",
        "429:retry-after-ms=1.5",
        "429:x-should-retry=maybe",
        "429:color=red",
        "stall=forever",
        "cut@",
        "cut@x",
        "cut@3=1",
        "stall@3",
        "error@-1",
    ],
)
def test_bad_scripts_raise_naming_the_step(script):
    with pytest.raises(ValueError) as info:
        parse_script(script)
    assert str(info.value)


def test_error_names_the_step():
    with pytest.raises(ValueError, match="teapot"):
        parse_script("429,teapot")


step_strategy = st.one_of(
    st.just(Step("ok")),
    st.builds(
        lambda status, ra, ms, date, sr: Step(
            "status",
            status=status,
            retry_after=ra,
            retry_after_ms=ms,
            retry_after_date=date,
            should_retry=sr,
        ),
        st.integers(100, 599),
        st.none() | st.integers(0, 100).map(float) | st.just(0.25),
        st.none() | st.integers(0, 10_000),
        st.none() | st.integers(0, 100).map(float),
        st.none() | st.booleans(),
    ),
    st.sampled_from(
        [
            Step(k)
            for k in (
                "reset",
                "reset-after-headers",
                "malformed",
                "badshape",
                "html502",
                "nostream",
            )
        ]
    ),
    st.builds(lambda s: Step("stall", seconds=s), st.just(math.inf) | st.integers(0, 9).map(float)),
    st.builds(lambda n: Step("cut@", events=n), st.integers(0, 50)),
    st.builds(
        lambda n, t: Step("error@", events=n, error_type=t),
        st.integers(0, 50),
        st.none() | st.just("overloaded_error"),
    ),
    st.builds(lambda n, s: Step("stall@", events=n, seconds=s), st.integers(0, 50), st.just(2.5)),
)


@given(st.lists(step_strategy, max_size=6))
def test_render_parse_roundtrip(steps):
    assert list(parse_script(_faults.join_steps(steps))) == steps


def test_plan_consumes_in_order_then_ok_forever():
    plan = FaultPlan("429,reset,500")
    kinds = [str(plan.next()) for _ in range(5)]
    assert kinds == ["429", "reset", "500", "ok", "ok"]
    assert plan.consumed == 3
    assert plan.empty


def test_plan_keys_are_independent_and_installed_once():
    plan = FaultPlan("500")
    plan.install("a", "429,429")
    plan.install("a", "503")  # a retry resends the header: must not restart the script
    plan.install("b", "html502")
    assert str(plan.next("a")) == "429"
    assert str(plan.next("b")) == "html502"
    assert plan.pending("a") == (Step("status", status=429),)
    assert str(plan.next("a")) == "429"
    assert str(plan.next("a")) == "ok"
    assert str(plan.next()) == "500"  # the global script is untouched by keyed requests
    assert str(plan.next("unknown")) == "ok"


def test_plan_set_replaces_and_clear_forgets():
    plan = FaultPlan("500,500")
    plan.set("429")
    assert plan.pending() == (Step("status", status=429),)
    plan.set("reset", key="k")
    assert str(plan.next("k")) == "reset"
    plan.set("503", key="k")
    plan.clear()
    assert plan.pending() == () and plan.pending("k") == ()


def test_retry_headers_each_form():
    now = 1_700_000_000.0
    (step,) = parse_script("429:retry-after=2:retry-after-ms=150:x-should-retry=false")
    assert retry_headers(step, now) == [
        ("retry-after", "2"),
        ("retry-after-ms", "150"),
        ("x-should-retry", "false"),
    ]
    (step,) = parse_script("429:retry-after-date=3")
    ((name, value),) = retry_headers(step, now)
    assert name == "retry-after"
    assert parsedate_to_datetime(value).timestamp() == now + 3
    assert retry_headers(Step("status", status=500), now) == []


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.0, "0ms"),
        (0.12, "120ms"),
        (0.9994, "999ms"),
        (1.0, "1s"),
        (7.66, "7.66s"),
        (7.6612, "7.66s"),
        (59.999, "1m0s"),
        (60.0, "1m0s"),
        (360.0, "6m0s"),
        (390.5, "6m30.5s"),
        (3723.0, "1h2m3s"),
    ],
)
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text


def test_format_rfc3339_rounds_up():
    assert format_rfc3339(0.0) == "1970-01-01T00:00:00Z"
    assert format_rfc3339(1_700_000_000.2) == "2023-11-14T22:13:21Z"


def test_bucket_burst_is_one_second():
    b = Bucket(600, now=0.0)  # 10 per second, burst 10
    assert b.capacity == 10
    assert [b.try_take(1, now=0.0) for _ in range(11)] == [True] * 10 + [False]
    assert b.wait_for(1, now=0.0) == pytest.approx(0.1)
    assert b.try_take(1, now=0.1)
    assert not b.try_take(1, now=0.1)


def test_bucket_refills_continuously_and_caps():
    b = Bucket(60, now=0.0)
    assert b.try_take(1, now=0.0)
    assert b.remaining(now=0.5) == 0
    assert b.reset_in(now=0.5) == pytest.approx(0.5)
    assert b.remaining(now=100.0) == 1  # capped at one second of budget
    assert b.reset_in(now=100.0) == 0.0


def test_bucket_refusal_takes_nothing():
    b = Bucket(120, now=0.0)  # 2 per second
    assert b.try_take(1, now=0.0) and b.try_take(1, now=0.0)
    for _ in range(5):
        assert not b.try_take(1, now=0.25)
    assert b.try_take(1, now=0.5)


def test_bucket_big_request_goes_into_debt():
    b = Bucket(6000, now=0.0)  # 100 tokens per second
    assert b.wait_for(500, now=0.0) == 0.0  # bigger than the burst: admitted when full
    b.take(500)
    assert b.level == -400
    assert b.wait_for(500, now=0.0) == pytest.approx(5.0)  # pays back to full first
    assert not b.try_take(1, now=4.0)
    assert b.try_take(1, now=4.02)


def test_bucket_rejects_nonpositive_budget():
    with pytest.raises(ValueError):
        Bucket(0, now=0.0)


@given(st.lists(st.floats(0, 0.5), max_size=200))
def test_bucket_never_admits_more_than_rate_plus_burst(gaps):
    b = Bucket(300, now=0.0)  # 5 per second, burst 5
    now, admitted = 0.0, 0
    for gap in gaps:
        now += gap
        admitted += b.try_take(1, now)
    assert admitted <= 5 + now * 5 + 1e-9

from __future__ import annotations

import pickle

import pytest

import rawllm
from rawllm._config import NOT_GIVEN, NotGiven, coerce_timeout


def test_timeout_defaults_and_number() -> None:
    t = rawllm.Timeout()
    assert (t.connect, t.read, t.total, t.first_event, t.event_idle) == (
        5.0,
        600.0,
        None,
        None,
        None,
    )
    assert coerce_timeout(2.5) == rawllm.Timeout(total=2.5)
    assert coerce_timeout(None) == rawllm.Timeout()
    assert coerce_timeout(t) is t


@pytest.mark.parametrize("bad", [0, -1, "3"])
def test_timeout_rejects_bad_values(bad: object) -> None:
    with pytest.raises((ValueError, TypeError)):
        rawllm.Timeout(read=bad)  # type: ignore[arg-type]


def test_timeout_rejects_bool_and_strings_as_number() -> None:
    with pytest.raises(TypeError):
        coerce_timeout(True)
    with pytest.raises(TypeError):
        coerce_timeout("5")  # type: ignore[arg-type]


def test_not_given_is_a_falsy_singleton() -> None:
    assert NotGiven() is NOT_GIVEN
    assert not NOT_GIVEN
    assert repr(NOT_GIVEN) == "NOT_GIVEN"
    assert pickle.loads(pickle.dumps(NOT_GIVEN, protocol=2)) is NOT_GIVEN


def test_rate_limit_and_pool_validation() -> None:
    with pytest.raises(ValueError):
        rawllm.RateLimit(requests_per_minute=0)
    assert rawllm.PoolLimits().max_connections == 1000

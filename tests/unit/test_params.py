"""Known keyword arguments: generated from the official SDKs, checked before anything is sent."""

from __future__ import annotations

import importlib.util
import inspect
from pathlib import Path

import pytest

from rawllm._known_params import KNOWN
from rawllm._params import EARLIER, RAWLLM_OPTIONS, accepted, unknown_kwargs

ROOT = Path(__file__).resolve().parents[2]


def _generator():
    spec = importlib.util.spec_from_file_location("gen", ROOT / "scripts" / "gen_known_params.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_known_list_matches_the_installed_sdks() -> None:
    gen = _generator()
    for name, (module, cls, method) in gen.SOURCES.items():
        expected = gen.sdk_params(module, cls, method)
        assert list(KNOWN[name]) == expected, (
            f"{name}: rawllm/_known_params.py is out of date; run scripts/gen_known_params.py"
        )
    assert set(KNOWN) == set(gen.SOURCES)


def test_every_sdk_parameter_is_accepted_by_the_rawllm_method() -> None:
    gen = _generator()
    for name, (module, cls, method) in gen.SOURCES.items():
        fn = getattr(getattr(importlib.import_module(module), cls), method)
        sdk = {p for p in inspect.signature(fn).parameters if p not in gen.OPTIONS}
        assert sdk <= accepted(name), name


def test_rawllm_options_and_earlier_names_are_accepted() -> None:
    assert RAWLLM_OPTIONS <= accepted("chat.completions.create")
    assert set(EARLIER["messages.create"]) <= accepted("messages.create")
    assert "temperature" in accepted("messages.create")
    assert "temperature" not in accepted("messages.count_tokens")


def test_typo_names_the_closest_parameter() -> None:
    err = unknown_kwargs(
        "chat.completions.create", ["temprature"], accepted("chat.completions.create")
    )
    assert isinstance(err, TypeError)
    assert "'temprature'" in str(err)
    assert "did you mean 'temperature'?" in str(err)
    assert "extra_body" in str(err)


def test_several_unknown_names_and_no_close_match() -> None:
    err = unknown_kwargs(
        "messages.create", ["zzzzzz", "max_token", "top_p"], accepted("messages.create")
    )
    text = str(err)
    assert "arguments" in text
    assert "'max_token'; did you mean 'max_tokens'?" in text
    assert "'zzzzzz'" in text and "did you mean" not in text.split("'zzzzzz'")[1].split(",")[0]
    assert "top_p" not in text  # known names are not reported


@pytest.mark.parametrize("method", sorted(KNOWN))
def test_request_options_are_not_listed_as_body_parameters(method: str) -> None:
    assert not {"extra_headers", "extra_query", "extra_body", "timeout", "self"} & set(
        KNOWN[method]
    )

"""The /v1 hint a 404 gets when an OpenAI base URL lacks its version segment (pure)."""

from __future__ import annotations

import pytest

from rawllm._exceptions import NotFoundError, make_status_error, missing_v1_hint

BODY = b'{"error": {"message": "Invalid URL (POST /chat/completions)", "type": "x"}}'


@pytest.mark.parametrize(
    ("url", "base"),
    [
        ("http://localhost:8000/chat/completions", "http://localhost:8000"),
        ("https://proxy.example/openai/embeddings?x=1", "https://proxy.example/openai"),
        ("http://127.0.0.1:11434/models", "http://127.0.0.1:11434"),
        ("http://h/responses", "http://h"),
    ],
)
def test_hint_names_the_base_url_with_v1(url: str, base: str) -> None:
    hint = missing_v1_hint(url)
    assert hint is not None and hint.endswith(f"take {base}/v1")


@pytest.mark.parametrize(
    "url",
    [
        "https://api.openai.com/v1/chat/completions",
        "https://api.groq.com/openai/v1/chat/completions",
        "https://generativelanguage.googleapis.com/v1beta/openai/chat/completions",
        "https://x.openai.azure.com/openai/deployments/gpt4/chat/completions?api-version=1",
        "https://api.anthropic.com/v1/messages",
        "http://localhost:8000/v1/models/gpt-4o",
        "not a url",
        "http://host",
    ],
)
def test_no_hint_where_the_path_is_fine_or_not_openai(url: str) -> None:
    assert missing_v1_hint(url) is None


def test_only_a_404_with_a_url_gets_the_hint() -> None:
    url = "http://localhost:8000/chat/completions"
    err = make_status_error(404, {}, BODY, url=url)
    assert isinstance(err, NotFoundError)
    assert "Invalid URL (POST /chat/completions)" in err.message
    assert "http://localhost:8000/v1" in err.message
    assert "/v1" not in make_status_error(404, {}, BODY).message.replace("POST /chat", "")
    assert "missing" not in make_status_error(400, {}, BODY, url=url).message

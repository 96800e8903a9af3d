"""AzureOpenAI set-up: URL rule, credentials and environment (no sockets)."""

from __future__ import annotations

import pytest

import rawllm
from rawllm._azure import azure_path

ENV = (
    "AZURE_OPENAI_API_KEY",
    "AZURE_OPENAI_AD_TOKEN",
    "AZURE_OPENAI_ENDPOINT",
    "OPENAI_API_VERSION",
)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV:
        monkeypatch.delenv(name, raising=False)


def test_azure_path() -> None:
    assert azure_path("/chat/completions", deployment=None, model="gpt-4o") == (
        "/deployments/gpt-4o/chat/completions",
        True,
    )
    assert azure_path("/embeddings", deployment="emb", model="x") == ("/embeddings", True)
    assert azure_path("/models", deployment="d", model=None) == ("/models", False)
    assert azure_path("/responses", deployment=None, model="m") == ("/responses", True)


def test_endpoint_deployment_and_version() -> None:
    c = rawllm.AzureOpenAI(
        azure_endpoint="https://res.openai.azure.com/",
        azure_deployment="gpt-4o",
        api_version="2024-10-21",
        api_key="k-1234",
    )
    assert str(c.base_url) == "https://res.openai.azure.com/openai/deployments/gpt-4o"
    assert c.default_query == {"api-version": "2024-10-21"}
    assert c._auth_headers["api-key"] == "k-1234"
    assert "Authorization" not in c._auth_headers
    assert "k-1234" not in repr(c)
    copy = c.with_options(max_retries=0)
    assert str(copy.base_url) == str(c.base_url) and copy.default_query == c.default_query


def test_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", "https://env.openai.azure.com")
    monkeypatch.setenv("OPENAI_API_VERSION", "2025-01-01-preview")
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "env-key")
    c = rawllm.AzureOpenAI()
    assert str(c.base_url) == "https://env.openai.azure.com/openai"
    assert c.api_version == "2025-01-01-preview" and c._auth_headers["api-key"] == "env-key"
    # with no explicit credential, an AD token in the environment wins over the key
    monkeypatch.setenv("AZURE_OPENAI_AD_TOKEN", "ad-token-123")
    c = rawllm.AzureOpenAI()
    assert c._auth_headers == {"Authorization": "Bearer ad-token-123"}
    # an explicit credential selects the principal; the environment is not read
    c = rawllm.AzureOpenAI(api_key="explicit")
    assert c._auth_headers == {"api-key": "explicit"}


def test_configuration_errors() -> None:
    with pytest.raises(rawllm.APIError, match="Missing credentials"):
        rawllm.AzureOpenAI(azure_endpoint="https://x", api_version="v")
    with pytest.raises(ValueError, match="api_version"):
        rawllm.AzureOpenAI(azure_endpoint="https://x", api_key="k")
    with pytest.raises(ValueError, match="azure_endpoint"):
        rawllm.AzureOpenAI(api_version="v", api_key="k")
    with pytest.raises(ValueError, match="mutually exclusive"):
        rawllm.AzureOpenAI(
            azure_endpoint="https://x", api_version="v", api_key="k", azure_ad_token="t"
        )
    with pytest.raises(ValueError, match="mutually exclusive"):
        rawllm.AzureOpenAI(
            base_url="https://x/openai", azure_endpoint="https://x", api_version="v", api_key="k"
        )


def test_query_in_base_url_is_kept_apart_from_the_path() -> None:
    c = rawllm.OpenAI(api_key="k", base_url="https://h/openai/deployments/x?api-version=2024-06-01")
    assert str(c.base_url) == "https://h/openai/deployments/x"
    url = c._url("/chat/completions", {"extra": "1"})
    assert url.path == "/openai/deployments/x/chat/completions"
    assert dict(url.query) == {"api-version": "2024-06-01", "extra": "1"}
    c = rawllm.OpenAI(api_key="k", base_url="https://h/v1", default_query={"a": 1})
    assert str(c._url("/models", None)) == "https://h/v1/models?a=1"


def test_aliases() -> None:
    assert rawllm.AsyncOpenAI is rawllm.OpenAI
    assert rawllm.AsyncAnthropic is rawllm.Anthropic

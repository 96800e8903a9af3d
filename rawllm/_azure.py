"""rawllm.AzureOpenAI: the OpenAI client with Azure's URLs, api-version and credentials.

Follows the official SDK's ``openai.AsyncAzureOpenAI``:

- ``azure_endpoint`` (env ``AZURE_OPENAI_ENDPOINT``) + ``azure_deployment`` give the
  base URL ``{endpoint}/openai/deployments/{deployment}``; without a deployment
  it is ``{endpoint}/openai`` and the deployment-scoped calls (chat completions,
  embeddings, ...) go to ``/deployments/{model}/...``, the ``model`` argument
  naming the deployment.  Calls that are not deployment-scoped (``models``,
  ``responses``) always go to ``{endpoint}/openai/...``.
- ``api-version`` (``api_version=`` or env ``OPENAI_API_VERSION``) is in the
  query of every call.
- Credentials, exactly one of: ``api_key`` (sent as ``api-key``),
  ``azure_ad_token`` (``Authorization: Bearer``), ``azure_ad_token_provider``
  (a sync or async callable asked for a token on every call).  With none given,
  env ``AZURE_OPENAI_AD_TOKEN`` wins over ``AZURE_OPENAI_API_KEY``.

The URL rule is the pure function ``azure_path``.
"""

from __future__ import annotations

import dataclasses
import inspect
import os
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import msgspec
from yarl import URL

from ._client import BaseClient, RetryEvent, _Shared
from ._config import PoolLimits, RateLimit, Timeout
from ._exceptions import APIError, register_secret
from ._formats import WireFormat
from ._providers import DEFAULT_MAX_RETRIES, OpenAI
from ._transport import DEFAULT_MAX_EVENT_BYTES, DEFAULT_MAX_RESPONSE_BYTES

__all__ = ["AzureADTokenProvider", "AzureOpenAI", "azure_path"]

AzureADTokenProvider = Callable[[], "str | Awaitable[str]"]

# Calls whose Azure URL names a deployment (as the official SDK lists them).
DEPLOYMENT_PATHS = frozenset(
    {
        "/completions",
        "/chat/completions",
        "/embeddings",
        "/audio/transcriptions",
        "/audio/translations",
        "/audio/speech",
        "/images/generations",
        "/images/edits",
    }
)


class _Model(msgspec.Struct):
    model: str | None = None


_model_of = msgspec.json.Decoder(_Model).decode


def azure_path(path: str, *, deployment: str | None, model: str | None) -> tuple[str, bool]:
    """Where a call goes on an Azure resource.

    Args:
        path: the OpenAI path (``/chat/completions``).
        deployment: the client's ``azure_deployment``, or None.
        model: the call's ``model`` (names the deployment when the client has none).

    Returns:
        ``(path, under_base)``: ``under_base`` True means the path is appended to the
        client's base URL, False means to ``{endpoint}/openai``.

    Example:
        >>> azure_path("/chat/completions", deployment=None, model="gpt-4o")
        ('/deployments/gpt-4o/chat/completions', True)
        >>> azure_path("/models", deployment="gpt-4o", model=None)
        ('/models', False)
    """
    if path in DEPLOYMENT_PATHS:
        if deployment is None and model:
            return f"/deployments/{model}{path}", True
        return path, True
    return path, deployment is None


class AzureOpenAI(OpenAI):
    """Async client for Azure OpenAI (the official SDK's ``AsyncAzureOpenAI`` arguments).

    Args:
        azure_endpoint: ``https://{resource}.openai.azure.com`` (env ``AZURE_OPENAI_ENDPOINT``).
        api_version: sent as ``api-version`` on every call (env ``OPENAI_API_VERSION``).
        azure_deployment: the deployment; without it, each call's ``model`` names it.
        api_key: sent as ``api-key`` (env ``AZURE_OPENAI_API_KEY``).
        azure_ad_token: a Microsoft Entra ID token, sent as ``Authorization: Bearer``
            (env ``AZURE_OPENAI_AD_TOKEN``).
        azure_ad_token_provider: a callable (sync or async) returning a token; asked on
            every call, so it can refresh (azure-identity's ``get_bearer_token_provider``).
        base_url: instead of ``azure_endpoint`` (mutually exclusive with it).
        organization, project, default_query, timeout, max_retries, rate_limit, pool,
            default_headers, session, on_retry, ssl, proxy, max_response_bytes,
            max_event_bytes: as for ``rawllm.OpenAI``.

    Raises:
        APIError: no credential was given or found in the environment.
        ValueError: no api_version, no endpoint, or more than one credential.

    Example:
        >>> client = rawllm.AzureOpenAI(azure_endpoint="https://my-resource.openai.azure.com",
        ...     api_version="2024-10-21", azure_deployment="gpt-4o", api_key="...")
    """

    def __init__(
        self,
        *,
        azure_endpoint: str | None = None,
        api_version: str | None = None,
        azure_deployment: str | None = None,
        api_key: str | None = None,
        azure_ad_token: str | None = None,
        azure_ad_token_provider: AzureADTokenProvider | None = None,
        base_url: str | None = None,
        organization: str | None = None,
        project: str | None = None,
        timeout: Timeout | float | None = None,
        max_retries: int = DEFAULT_MAX_RETRIES,
        rate_limit: RateLimit | None = None,
        pool: PoolLimits | None = None,
        default_headers: Mapping[str, str] | None = None,
        default_query: Mapping[str, Any] | None = None,
        session: Any = None,
        on_retry: Callable[[RetryEvent], Any] | None = None,
        ssl: Any = None,
        proxy: str | None = None,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
        _shared: _Shared | None = None,
    ) -> None:
        given = [x is not None for x in (api_key, azure_ad_token, azure_ad_token_provider)]
        if sum(given) > 1:
            raise ValueError(
                "The api_key, azure_ad_token and azure_ad_token_provider arguments are "
                "mutually exclusive; pass only one."
            )
        if not any(given):
            azure_ad_token = os.environ.get("AZURE_OPENAI_AD_TOKEN")
            if azure_ad_token is None:
                api_key = os.environ.get("AZURE_OPENAI_API_KEY")
        if not api_key and not azure_ad_token and azure_ad_token_provider is None:
            raise APIError(
                "Missing credentials. Pass one of api_key, azure_ad_token, "
                "azure_ad_token_provider, or set the AZURE_OPENAI_API_KEY or "
                "AZURE_OPENAI_AD_TOKEN environment variable."
            )
        api_version = api_version or os.environ.get("OPENAI_API_VERSION")
        if not api_version:
            raise ValueError(
                "Must provide either the api_version argument or the OPENAI_API_VERSION "
                "environment variable."
            )
        if base_url is None:
            azure_endpoint = azure_endpoint or os.environ.get("AZURE_OPENAI_ENDPOINT")
            if not azure_endpoint:
                raise ValueError(
                    "Must provide one of the base_url or azure_endpoint arguments, or the "
                    "AZURE_OPENAI_ENDPOINT environment variable."
                )
            azure_endpoint = azure_endpoint.rstrip("/")
            base_url = f"{azure_endpoint}/openai"
            if azure_deployment:
                base_url += f"/deployments/{azure_deployment}"
        elif azure_endpoint is not None:
            raise ValueError("base_url and azure_endpoint are mutually exclusive.")
        query = {**(default_query or {}), "api-version": api_version}

        self.api_version = api_version
        self.azure_endpoint = azure_endpoint
        # As in the official SDK, a deployment counts only with an endpoint (not a base_url).
        self.azure_deployment = (azure_deployment or None) if azure_endpoint else None
        self.azure_ad_token = azure_ad_token
        self.azure_ad_token_provider = azure_ad_token_provider
        self._azure_key = api_key
        self._openai_base: str | None = None
        if azure_endpoint is not None and self.azure_deployment is not None:
            self._openai_base = f"{azure_endpoint}/openai"
        register_secret(azure_ad_token)
        auth: dict[str, str] = {}
        if api_key:
            auth["api-key"] = api_key
        elif azure_ad_token:
            auth["Authorization"] = f"Bearer {azure_ad_token}"
        self._init_openai(
            api_key=api_key or azure_ad_token or "",
            auth=auth,
            base_url=base_url,
            organization=organization,
            project=project,
            timeout=timeout,
            max_retries=max_retries,
            rate_limit=rate_limit,
            pool=pool,
            default_headers=default_headers,
            default_query=query,
            session=session,
            on_retry=on_retry,
            ssl=ssl,
            proxy=proxy,
            max_response_bytes=max_response_bytes,
            max_event_bytes=max_event_bytes,
            _shared=_shared,
        )

    def _copy_kwargs(self) -> dict[str, Any]:
        kwargs = super()._copy_kwargs()
        kwargs.update(
            api_key=self._azure_key,
            azure_ad_token=self.azure_ad_token,
            azure_ad_token_provider=self.azure_ad_token_provider,
            api_version=self.api_version,
            azure_deployment=self.azure_deployment,
        )
        if self.azure_endpoint is not None:
            kwargs["azure_endpoint"] = self.azure_endpoint
            del kwargs["base_url"]
        return kwargs

    def __repr__(self) -> str:
        return (
            f"AzureOpenAI(base_url={self._base_str!r}, api_version={self.api_version!r}, "
            f"api_key='[REDACTED]', max_retries={self.max_retries})"
        )

    # -- per-call routing and credentials --------------------------------------

    def _url(self, path: str, query: Mapping[str, Any] | None) -> URL:
        if self._openai_base is None or path in DEPLOYMENT_PATHS:
            return super()._url(path, query)
        # A deployment client still reaches resource-wide calls (models, responses).
        key = "\0" + path
        url = self._urls.get(key)
        if url is None:
            url = URL(self._openai_base + path, encoded=True).update_query(self.default_query)
            self._urls[key] = url
        if query:
            url = url.update_query({k: str(v) for k, v in query.items()})
        return url

    async def _request(self, fmt: WireFormat[Any, Any], body: bytes | None, **kwargs: Any) -> Any:
        path = fmt.path
        if self.azure_deployment is None and path in DEPLOYMENT_PATHS and body:
            model = _model_of(body).model
            if model and "/deployments" not in self._base_str:
                fmt = dataclasses.replace(
                    fmt, path=azure_path(path, deployment=None, model=model)[0]
                )
        provider = self.azure_ad_token_provider
        if provider is not None:
            token = provider()
            if inspect.isawaitable(token):
                token = await token
            if not isinstance(token, str) or not token:
                raise ValueError("Expected azure_ad_token_provider to return a non-empty string.")
            register_secret(token)
            given = kwargs.get("extra_headers") or {}
            if not any(k.lower() == "authorization" for k in given):
                kwargs["extra_headers"] = {**given, "Authorization": f"Bearer {token}"}
        return await BaseClient._request(self, fmt, body, **kwargs)

"""The two clients: rawllm.OpenAI (any OpenAI-compatible server) and rawllm.Anthropic.

They differ only in environment variables, base URL conventions and auth
headers; everything else lives in ``BaseClient``.
"""

from __future__ import annotations

import os
import ssl as ssl_
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from ._client import BaseClient, RetryEvent, _Shared
from ._config import PoolLimits, RateLimit, Timeout
from ._exceptions import APIError, register_secret
from ._resources import AsyncEmbeddings
from ._retrieval import AsyncAnthropicModels, AsyncModels
from ._surface import AsyncChat, AsyncMessages, AsyncResponses
from ._transport import DEFAULT_MAX_EVENT_BYTES, DEFAULT_MAX_RESPONSE_BYTES

if TYPE_CHECKING:
    import aiohttp

    from ._resources_batch import AsyncBatches, AsyncFiles

__all__ = ["Anthropic", "AsyncAnthropic", "AsyncOpenAI", "OpenAI"]

DEFAULT_MAX_RETRIES = 2
ANTHROPIC_VERSION = "2023-06-01"


class _Client(BaseClient):
    """A client with resource namespaces, which ``batch()`` drives."""

    def batch(
        self,
        requests: Any,
        *,
        concurrency: int = 64,
        endpoint: str | None = None,
        **options: Any,
    ) -> Any:
        """Run many calls concurrently; yields one result per input as each completes.

        Args:
            requests: an iterable or async iterable of dicts of ``create()`` keyword
                arguments (consumed lazily, so memory stays bounded).
            concurrency: calls in flight at once.
            endpoint: which call to make (default: chat completions for OpenAI,
                messages for Anthropic); see ``docs/batch.md``.
            **options: further options of ``rawllm._batch.run_batch``.

        Returns:
            An async iterator of ``BatchResult`` (``.index``, ``.custom_id``,
            ``.response``, ``.error``, ``.retries``, ``.latency``).

        Example:
            >>> async for result in client.batch(requests, concurrency=32):
            ...     print(result.index, result.error or result.response)
        """
        from ._batch import run_batch

        return run_batch(self, requests, concurrency=concurrency, endpoint=endpoint, **options)


class OpenAI(_Client):
    """Async client for the OpenAI API and every server that speaks its wire format.

    Args:
        api_key: defaults to env ``OPENAI_API_KEY``.
        base_url: defaults to env ``OPENAI_BASE_URL``, else ``https://api.openai.com/v1``
            (the ``/v1`` is part of it, as in the official SDK).
        organization: sent as ``OpenAI-Organization`` (env ``OPENAI_ORG_ID``).
        project: sent as ``OpenAI-Project`` (env ``OPENAI_PROJECT_ID``).
        timeout: a ``rawllm.Timeout``, or a number meaning ``Timeout(total=number)``.
        max_retries: extra attempts after the first (default 2).
        rate_limit: a ``rawllm.RateLimit`` shared by every call of this client.
        pool: ``rawllm.PoolLimits`` for the connection pool.
        default_headers: headers sent with every request.
        default_query: query parameters sent with every request (a query written into
            ``base_url`` is kept the same way; ``extra_query=`` adds to it per call).
        session: your own ``aiohttp.ClientSession`` (never closed by rawllm).
        on_retry: called with a ``RetryEvent`` before each retry sleep.
        ssl: an ``ssl.SSLContext`` to verify the server with (a private CA, a
            client certificate), or ``False`` to skip certificate verification
            entirely (INSECURE: anyone on the path can read and change the
            traffic, API key included; for local test servers only).  Not
            with ``session=``.
        proxy: an ``http://`` proxy URL (``http://user:pass@host:port``) used
            for every request instead of the environment's ``HTTPS_PROXY``.
            Not with ``session=``.
        max_response_bytes: largest body (after decompression) and largest
            whole stream rawllm reads; more raises ``APIResponseValidationError``.
        max_event_bytes: largest single server-sent event (or line) of a stream.

    Raises:
        APIError: no API key was given or found in the environment.
        ValueError: a configuration mistake (CR/LF in a header or the key, a
            base URL that is not http(s), ``ssl=`` with ``session=``).

    Example:
        >>> async with rawllm.OpenAI() as client:
        ...     resp = await client.chat.completions.create(
        ...         model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}])
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        organization: str | None = None,
        project: str | None = None,
        timeout: Timeout | float | None = None,
        max_retries: int = DEFAULT_MAX_RETRIES,
        rate_limit: RateLimit | None = None,
        pool: PoolLimits | None = None,
        default_headers: Mapping[str, str] | None = None,
        default_query: Mapping[str, Any] | None = None,
        session: aiohttp.ClientSession | None = None,
        on_retry: Callable[[RetryEvent], Any] | None = None,
        ssl: ssl_.SSLContext | bool | None = None,
        proxy: str | None = None,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
        _shared: _Shared | None = None,
    ) -> None:
        api_key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
        if not api_key:
            raise APIError(
                "The api_key client option must be set either by passing api_key to the "
                "client or by setting the OPENAI_API_KEY environment variable."
            )
        self._init_openai(
            api_key=api_key,
            auth={"Authorization": f"Bearer {api_key}"},
            base_url=base_url or os.environ.get("OPENAI_BASE_URL") or "https://api.openai.com/v1",
            organization=organization,
            project=project,
            timeout=timeout,
            max_retries=max_retries,
            rate_limit=rate_limit,
            pool=pool,
            default_headers=default_headers,
            default_query=default_query,
            session=session,
            on_retry=on_retry,
            ssl=ssl,
            proxy=proxy,
            max_response_bytes=max_response_bytes,
            max_event_bytes=max_event_bytes,
            _shared=_shared,
        )

    def _init_openai(
        self,
        *,
        api_key: str,
        auth: dict[str, str],
        base_url: str,
        organization: str | None,
        project: str | None,
        **options: Any,
    ) -> None:
        """The part of set-up shared with ``AzureOpenAI`` (which has its own credentials)."""
        self.organization = organization or os.environ.get("OPENAI_ORG_ID")
        self.project = project or os.environ.get("OPENAI_PROJECT_ID")
        if self.organization:
            auth["OpenAI-Organization"] = self.organization
        if self.project:
            auth["OpenAI-Project"] = self.project
        super().__init__(api_key=api_key, base_url=base_url, auth_headers=auth, **options)
        self.chat = AsyncChat(self)
        self.embeddings = AsyncEmbeddings(self)
        self.models = AsyncModels(self)
        self.responses = AsyncResponses(self)

    @property
    def files(self) -> AsyncFiles:
        """``client.files``: upload, list, retrieve, download (``content``) and delete files."""
        from ._resources_batch import AsyncFiles

        return AsyncFiles(self)

    @property
    def batches(self) -> AsyncBatches:
        """``client.batches``: the OpenAI Batch API (create, retrieve, list, cancel)."""
        from ._resources_batch import AsyncBatches

        return AsyncBatches(self)

    def _copy_kwargs(self) -> dict[str, Any]:
        kwargs = super()._copy_kwargs()
        kwargs["organization"] = self.organization
        kwargs["project"] = self.project
        return kwargs


class Anthropic(_Client):
    """Async client for the Anthropic Messages API.

    Args:
        api_key: defaults to env ``ANTHROPIC_API_KEY``; sent as ``x-api-key``.
        auth_token: a bearer token instead of an API key (env ``ANTHROPIC_AUTH_TOKEN``).
        base_url: defaults to env ``ANTHROPIC_BASE_URL``, else ``https://api.anthropic.com``
            (without ``/v1``, as in the official SDK).
        timeout, max_retries, rate_limit, pool, default_headers, default_query, session,
        on_retry, ssl, proxy, max_response_bytes, max_event_bytes: as for ``rawllm.OpenAI``.

    Raises:
        APIError: neither an API key nor an auth token was given or found.

    Example:
        >>> async with rawllm.Anthropic() as client:
        ...     msg = await client.messages.create(model="claude-sonnet-4-5", max_tokens=256,
        ...         messages=[{"role": "user", "content": "Hi"}])
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        auth_token: str | None = None,
        base_url: str | None = None,
        timeout: Timeout | float | None = None,
        max_retries: int = DEFAULT_MAX_RETRIES,
        rate_limit: RateLimit | None = None,
        pool: PoolLimits | None = None,
        default_headers: Mapping[str, str] | None = None,
        default_query: Mapping[str, Any] | None = None,
        session: aiohttp.ClientSession | None = None,
        on_retry: Callable[[RetryEvent], Any] | None = None,
        ssl: ssl_.SSLContext | bool | None = None,
        proxy: str | None = None,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
        _shared: _Shared | None = None,
    ) -> None:
        api_key = api_key if api_key is not None else os.environ.get("ANTHROPIC_API_KEY")
        auth_token = (
            auth_token if auth_token is not None else os.environ.get("ANTHROPIC_AUTH_TOKEN")
        )
        if not api_key and not auth_token:
            raise APIError(
                "The api_key client option must be set either by passing api_key to the "
                "client or by setting the ANTHROPIC_API_KEY environment variable."
            )
        base_url = base_url or os.environ.get("ANTHROPIC_BASE_URL") or "https://api.anthropic.com"
        self.auth_token = auth_token
        auth = {"anthropic-version": ANTHROPIC_VERSION}
        if api_key:
            auth["x-api-key"] = api_key
        if auth_token:
            auth["Authorization"] = f"Bearer {auth_token}"
        super().__init__(
            api_key=api_key or auth_token or "",
            base_url=base_url,
            timeout=timeout,
            max_retries=max_retries,
            rate_limit=rate_limit,
            pool=pool,
            default_headers=default_headers,
            default_query=default_query,
            session=session,
            on_retry=on_retry,
            auth_headers=auth,
            ssl=ssl,
            proxy=proxy,
            max_response_bytes=max_response_bytes,
            max_event_bytes=max_event_bytes,
            _shared=_shared,
        )
        self._anthropic_key = api_key
        register_secret(auth_token)
        self.messages = AsyncMessages(self)
        self.models = AsyncAnthropicModels(self)

    def _copy_kwargs(self) -> dict[str, Any]:
        kwargs = super()._copy_kwargs()
        kwargs["api_key"] = self._anthropic_key
        kwargs["auth_token"] = self.auth_token
        return kwargs


# The official SDKs' names for their async clients: rawllm's clients are async,
# so ``openai.AsyncOpenAI`` -> ``rawllm.AsyncOpenAI`` is a one-word change.
AsyncOpenAI = OpenAI
AsyncAnthropic = Anthropic

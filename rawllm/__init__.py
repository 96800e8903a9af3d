"""rawllm: a thin, fast async client for LLM HTTP APIs (OpenAI wire format and Anthropic).

Example:
    >>> import rawllm
    >>> async with rawllm.OpenAI() as client:
    ...     resp = await client.chat.completions.create(
    ...         model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}])
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._azure import AzureOpenAI
from ._client import RetryEvent
from ._config import NOT_GIVEN, NotGiven, PoolLimits, RateLimit, Timeout
from ._exceptions import (
    APIConnectionError,
    APIError,
    APIResponseValidationError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    InternalServerError,
    LengthFinishReasonError,
    NotFoundError,
    OverloadedError,
    PermissionDeniedError,
    RateLimitError,
    RequestTooLargeError,
    UnprocessableEntityError,
)
from ._permit import LimiterState
from ._providers import Anthropic, AsyncAnthropic, AsyncOpenAI, OpenAI
from ._streaming import AsyncStream
from ._tokens import estimate_tokens
from ._tools import function_tool
from ._version import __version__

if TYPE_CHECKING:
    from ._batch import BatchResult, InvalidRequestError
    from ._redis_store import RedisStore

__all__ = [
    "NOT_GIVEN",
    "APIConnectionError",
    "APIError",
    "APIResponseValidationError",
    "APIStatusError",
    "APITimeoutError",
    "Anthropic",
    "AsyncAnthropic",
    "AsyncOpenAI",
    "AsyncStream",
    "AuthenticationError",
    "AzureOpenAI",
    "BadRequestError",
    "BatchResult",
    "ConflictError",
    "InternalServerError",
    "InvalidRequestError",
    "LengthFinishReasonError",
    "LimiterState",
    "NotFoundError",
    "NotGiven",
    "OpenAI",
    "OverloadedError",
    "PermissionDeniedError",
    "PoolLimits",
    "RateLimit",
    "RateLimitError",
    "RedisStore",
    "RequestTooLargeError",
    "RetryEvent",
    "Timeout",
    "UnprocessableEntityError",
    "__version__",
    "estimate_tokens",
    "function_tool",
]


def __getattr__(name: str) -> Any:
    # Imported on first use, to keep `import rawllm` fast: RedisStore lives
    # behind the [redis] extra, the batch types are needed only for bulk runs.
    if name == "RedisStore":
        from ._redis_store import RedisStore

        return RedisStore
    if name in ("BatchResult", "InvalidRequestError"):
        from . import _batch

        return getattr(_batch, name)
    raise AttributeError(f"module 'rawllm' has no attribute {name!r}")

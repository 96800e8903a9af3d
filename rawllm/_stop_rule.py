"""When an online batch run should stop early: the same run-wide failure, again and again.

Pure: imports neither aiohttp nor asyncio and reads no clock.

Some failures are about the item (a 400, a timeout, a 429 that outlasted the
retries, a model that does not exist) and the run goes on.  Others are about
the whole run: the host refuses connections, its name does not resolve, its
certificate is refused, the key is refused (401/403), or the endpoint does not
exist (404 not about a model).  Every further request would fail the same
way, each after its retries, so after ``threshold`` consecutive results of one
such kind (with no success or other outcome between them) the run stops with
one message instead of writing one failure line per remaining prompt.

Invariants:
- any success, item failure, or a run-wide failure of another kind resets the
  streak, so a flaky network that still answers sometimes never stops a run;
- the decision depends only on the sequence of kinds fed in.
"""

from __future__ import annotations

import errno
import ssl
from typing import Any

from ._exceptions import APIConnectionError, APIStatusError, APITimeoutError

__all__ = ["KIND_MESSAGES", "FailureStreak", "failure_kind"]

KIND_MESSAGES = {
    "connection_refused": "the server refuses connections (check --base-url and that it is up)",
    "dns": "the host name does not resolve (check --base-url)",
    "tls": "the TLS handshake fails (certificate or protocol; check --base-url)",
    "unauthorized": "the API key is refused (HTTP 401; check the key and --provider)",
    "forbidden": "access is denied (HTTP 403; check the key's permissions and --provider)",
    "endpoint_not_found": "the endpoint does not exist (HTTP 404; check --base-url and "
    "--provider / --endpoint)",
}


def _causes(exc: BaseException) -> list[BaseException]:
    out: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and len(out) < 8:
        out.append(cur)
        cur = cur.__cause__ or cur.__context__
    return out


def _class_names(exc: BaseException) -> set[str]:
    return {cls.__name__ for cls in type(exc).__mro__}


def _is_model_not_found(body: Any, message: str) -> bool:
    # OpenAI: {"error": {"code": "model_not_found"}} (body unwrapped by rawllm);
    # Anthropic: {"type": "error", "error": {"type": "not_found_error", "message": "model: x"}}.
    inner = body.get("error", body) if isinstance(body, dict) else None
    if isinstance(inner, dict):
        code = inner.get("code")
        if isinstance(code, str) and "model" in code:
            return True
        text = inner.get("message")
        if isinstance(text, str) and "model" in text.lower():
            return True
    return "model" in message.lower()


def failure_kind(error: BaseException | None) -> str | None:
    """The run-wide kind of a failure, or None (success, or a failure about the item).

    Example:
        >>> failure_kind(None) is None
        True
    """
    if error is None:
        return None
    if isinstance(error, APIStatusError):
        status = error.status_code
        if status == 401:
            return "unauthorized"
        if status == 403:
            return "forbidden"
        if status == 404 and not _is_model_not_found(error.body, error.message):
            return "endpoint_not_found"
        return None
    if not isinstance(error, APIConnectionError) or isinstance(error, APITimeoutError):
        return None
    for exc in _causes(error):
        names = _class_names(exc)
        if "ClientConnectorDNSError" in names or "gaierror" in names:
            return "dns"
        if (
            isinstance(exc, ssl.SSLError)
            or "ClientSSLError" in names
            or "ClientConnectorCertificateError" in names
        ):
            return "tls"
        if isinstance(exc, ConnectionRefusedError) or (
            isinstance(exc, OSError) and exc.errno == errno.ECONNREFUSED
        ):
            return "connection_refused"
        os_error = getattr(exc, "os_error", None)
        if isinstance(os_error, OSError) and os_error is not exc:
            if isinstance(os_error, ConnectionRefusedError):
                return "connection_refused"
            if isinstance(os_error, ssl.SSLError):
                return "tls"
    return None


class FailureStreak:
    """Count consecutive run-wide failures of one kind.

    Example:
        >>> s = FailureStreak(3)
        >>> [s.observe(k) for k in ("dns", "dns", None, "dns", "dns", "dns")]
        [False, False, False, False, False, True]
    """

    __slots__ = ("count", "kind", "threshold")

    def __init__(self, threshold: int) -> None:
        if threshold < 1:
            raise ValueError("threshold must be >= 1")
        self.threshold = threshold
        self.kind: str | None = None
        self.count = 0

    def observe(self, kind: str | None) -> bool:
        """Feed one result's kind; True when the run should stop now."""
        if kind is None or kind != self.kind:
            self.kind = kind
            self.count = 0 if kind is None else 1
        else:
            self.count += 1
        return self.kind is not None and self.count >= self.threshold

    def message(self) -> str:
        """Why the run stopped (for the one message the CLI prints)."""
        what = KIND_MESSAGES.get(self.kind or "", self.kind or "")
        return f"{self.count} requests in a row failed the same way: {what}"

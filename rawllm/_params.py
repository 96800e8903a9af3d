"""Which keyword arguments each call accepts, and the TypeError for the others.

Invariants:

- A method that takes ``**params`` accepts exactly the keyword arguments of
  the official SDK method of the same name (``_known_params.KNOWN``, generated
  from their signatures by ``scripts/gen_known_params.py``) plus rawllm's own
  per-call options (``max_retries``).  Anything else raises ``TypeError``
  before a byte is sent, naming the closest known argument; provider
  extensions go in ``extra_body=``.
- The check on the call path is one ``frozenset.issuperset`` over the
  keyword names (no allocation when every name is known); building the hint
  happens only on the error path.

Pure: no IO.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from ._known_params import KNOWN

__all__ = ["EARLIER", "RAWLLM_OPTIONS", "accepted", "unknown_kwargs"]

# Per-call options rawllm adds to every method (not sent in the body).
RAWLLM_OPTIONS = frozenset({"max_retries"})

# Parameters that earlier releases of the official SDKs took and that code in the
# wild still passes (the sampling knobs left the anthropic SDK's signatures in 2.x
# while servers, Anthropic-compatible ones included, still read them).  Kept by
# hand; the generated file only follows the installed SDKs.
EARLIER: dict[str, tuple[str, ...]] = {
    "messages.create": ("temperature", "top_k", "top_p"),
    "messages.stream": ("temperature", "top_k", "top_p"),
}


def accepted(method: str) -> frozenset[str]:
    """The keyword arguments a method accepts (the SDK's, plus rawllm's per-call options).

    Args:
        method: the SDK method, e.g. ``"chat.completions.create"``.

    Example:
        >>> "temperature" in accepted("chat.completions.create")
        True
    """
    return frozenset(KNOWN[method]) | frozenset(EARLIER.get(method, ())) | RAWLLM_OPTIONS


def unknown_kwargs(method: str, given: Iterable[str], known: frozenset[str]) -> TypeError:
    """The error for keyword arguments not in ``known`` (built only when there are some).

    Example:
        >>> err = unknown_kwargs("chat.completions.create", ["temprature"],
        ...     accepted("chat.completions.create"))
        >>> "did you mean 'temperature'?" in str(err)
        True
    """
    bad = sorted(name for name in given if name not in known)
    choices = sorted(known | {"extra_headers", "extra_query", "extra_body", "timeout"})
    parts = []
    for name in bad:
        close = difflib.get_close_matches(name, choices, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        parts.append(f"{name!r}{hint}")
    noun = "argument" if len(bad) == 1 else "arguments"
    return TypeError(
        f"{method}() got an unexpected keyword {noun} {', '.join(parts)} "
        f"(provider-specific fields go in extra_body={{...}})"
    )

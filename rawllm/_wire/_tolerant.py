"""The tolerant path: decode what fits, keep what does not as sent, and go on.

Rule (docs/decoding.md): strict where the user's code reads, tolerant
everywhere else.  A body is first decoded strictly, in one msgspec pass (each
wire module's fast path).  Only when that pass fails does ``tolerant()`` run:

1. the body is decoded to plain Python objects;
2. it is converted to the typed result; when msgspec names a path whose value
   does not fit (``Expected `str | null`, got `object` - at `$.output[0].error```),
   a wire-specific ``repair`` may rewrite a known odd shape in place (a list of
   content parts where a string is declared); otherwise the value at that path
   is taken out of the object, kept as sent under its JSON path, logged at
   DEBUG, and the conversion is tried again, so the field reads as its default;
3. an odd element of a list of tagged objects (content blocks, output items)
   may be swapped for a placeholder and put back afterwards as the format's
   ``Unknown*`` object (the ``element`` callback), so one bad block does not
   cost its neighbours;
4. only when the path climbs to the top (the body lacks what the call is for:
   no ``choices``, no ``content``, or is not an object) does it raise
   ``APIResponseValidationError``, with msgspec's message naming the path.

The values kept are returned to the caller, which attaches them to the result
(``Result.raw_fields``).  Pure: no IO, no clock.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from typing import Any, Final

import msgspec

from ._common import invalid, put

__all__ = ["Element", "Path", "Repair", "format_path", "keep", "parse_path", "tolerant", "under"]

logger = logging.getLogger("rawllm")

Path = tuple[str | int, ...]
Repair = Callable[[Path, Any, dict[str, Any]], bool]
"""``repair(path, obj, kept)``: rewrite the odd value at ``path`` inside ``obj`` in place
(recording what it replaced with ``keep(kept, ...)``); True if it did."""
Element = Callable[[Path, Any], "tuple[Any, Any] | None"]
"""``element(path, raw)``: (placeholder, value to put back) when the odd value at ``path``
is a whole tagged object (a content block, an output item) to keep as its ``Unknown*``
type, else None."""

_AT: Final = re.compile(r" - at `\$([^`]*)`$")
_STEP: Final = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]")
_MAX_REPAIRS: Final = 64  # a body needing more than this is not an answer with a few odd fields


def parse_path(message: str) -> Path:
    """The JSON path msgspec's error message names, as keys and indexes (``()``: the top)."""
    found = _AT.search(message)
    if found is None:
        return ()
    return tuple(name if name else int(index) for name, index in _STEP.findall(found.group(1)))


def format_path(path: Sequence[str | int]) -> str:
    """``("output", 0, "error")`` -> ``"$.output[0].error"`` (msgspec's own notation)."""
    return "$" + "".join(f"[{step}]" if isinstance(step, int) else f".{step}" for step in path)


def _at(obj: Any, path: Sequence[str | int]) -> Any:
    for step in path:
        obj = obj[step]
    return obj


def tolerant(
    obj: Any,
    typ: Any,
    what: str,
    body: bytes | str,
    patches: list[tuple[tuple[Any, ...], Any]],
    *,
    repair: Repair | None = None,
    element: Element | None = None,
    essential: Callable[[Path], bool] | None = None,
) -> tuple[Any, dict[str, Any]]:
    """Convert decoded ``obj`` to ``typ``, keeping odd values raw instead of failing.

    Args:
        obj: the body decoded to plain objects (changed in place).
        typ: the result type.
        what: its name, for the error message.
        body: the body as received, for the error's ``.body``.
        patches: (path, value) pairs to put into the result afterwards
            (unknown blocks already swapped for placeholders); more are added.
        repair: the wire format's rewrites of known odd shapes.
        element: the wire format's stand-ins for odd elements of tagged lists.
        essential: says which paths the answer cannot go without even where
            the type has a default (a Response's ``output``): an odd value
            there raises.

    Returns:
        (the typed result, {JSON path: value as sent} of every value left out).

    Raises:
        APIResponseValidationError: the body lacks what the call is for.
    """
    kept: dict[str, Any] = {}
    first = ""
    for _ in range(_MAX_REPAIRS):
        try:
            result = msgspec.convert(obj, typ)
        except msgspec.ValidationError as exc:
            first = first or str(exc)
            path = parse_path(str(exc))
            if not _set_aside(obj, list(path), kept, patches, repair, element, essential):
                if kept:  # the first odd value is usually the cause: name it
                    odd = ", ".join(kept)
                    exc = msgspec.ValidationError(f"{first} (set aside: {odd}; then: {exc})")
                raise invalid(what, body, exc) from exc
            continue
        for where, value in patches:
            try:
                put(result, where, value)
            except (AttributeError, IndexError, KeyError, TypeError):
                pass  # its container was itself set aside
        return result, kept
    raise invalid(what, body, msgspec.ValidationError(f"more than {_MAX_REPAIRS} odd values"))


def _set_aside(
    obj: Any,
    path: list[str | int],
    kept: dict[str, Any],
    patches: list[tuple[tuple[Any, ...], Any]],
    repair: Repair | None,
    element: Element | None,
    essential: Callable[[Path], bool] | None,
) -> bool:
    """Deal with the odd value at ``path``; False when only the whole body could go."""
    if repair is not None and path and repair(tuple(path), obj, kept):
        return True
    while path:
        key = path[-1]
        try:
            parent = _at(obj, path[:-1])
        except (KeyError, IndexError, TypeError):
            path.pop()
            continue
        if isinstance(key, int):
            present = isinstance(parent, list) and key < len(parent)
        else:
            present = isinstance(parent, dict) and key in parent
        if present:
            raw = parent[key]
            swap = element(tuple(path), raw) if element is not None else None
            if swap is not None:
                parent[key] = swap[0]
                patches.append((tuple(path), swap[1]))
                keep(kept, path, raw)
                return True
            if isinstance(key, str):
                if essential is not None and essential(tuple(path)):
                    return False
                del parent[key]
                keep(kept, path, raw)
                return True
        path.pop()  # a list element, or a value whose container is odd: set the container aside
    return False


def keep(kept: dict[str, Any], path: Sequence[str | int], raw: Any) -> None:
    """Record ``raw`` as the value sent at ``path`` and say so at DEBUG level."""
    where = format_path(path)
    kept[where] = raw
    logger.debug("rawllm: %s does not fit its declared type; kept as sent, decoding goes on", where)


def under(prefix: str, kept: dict[str, Any]) -> dict[str, Any]:
    """The kept values below ``prefix`` (``"$.response"``), with paths relative to it.

    Example:
        >>> under("$.response", {"$.response.usage": 1, "$.type": 2})
        {'$.usage': 1}
    """
    return {"$" + k[len(prefix) :]: v for k, v in kept.items() if k.startswith(prefix + ".")}

"""What MockServer does wrong on purpose: fault scripts and the strict-provider budget.

Pure: imports neither aiohttp nor asyncio and reads no clock; every function
that needs the time takes ``now`` (seconds) as an argument.

Fault script grammar (documented for users in ``docs/testing.md``)::

    script := step ("," step)*          # whitespace around steps is ignored
    step   := "ok"
            | STATUS (":" option)*      # 429, 500, 503:x-should-retry=false, ...
            | "reset"                   # close the connection before any response
            | "reset-after-headers"     # headers sent, connection dropped before the body
            | "stall" ["=" SECONDS]     # no response for that long (default: until closed)
            | "malformed" | "badshape" | "html502"
            | "nostream"                # a stream request answered with the whole JSON body
            | ("cut" | "error" | "stall") "@" N ["=" ARG]
    option := "retry-after=" SECONDS | "retry-after-ms=" MS
            | "retry-after-date=" SECONDS_AHEAD | "x-should-retry=" ("true" | "false")

Steps are consumed one per request, in arrival order; an exhausted script
answers ``ok`` forever.  Invariant: ``parse_script(s)`` either returns steps
whose fields are all valid or raises ``ValueError`` naming the bad step, so
the server never meets a half-understood step at request time.

The strict-provider budget (:class:`Bucket`) is a continuously refilled token
bucket: ``rate`` units per second, capacity ``max(1, rate)`` (about one
second of burst).  A request of cost ``c`` passes when the level is at least
``min(c, capacity)``; it then takes ``c`` (the level may go below zero, so a
request bigger than the burst is admitted once and paid back over time).  A
refused request takes nothing.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import formatdate

__all__ = [
    "Bucket",
    "FaultPlan",
    "Step",
    "format_duration",
    "format_rfc3339",
    "int_header",
    "parse_script",
    "retry_headers",
]

# Kinds of step.  Plain strings keep the parser and the server's dispatch cheap.
OK = "ok"
STATUS = "status"
RESET = "reset"
RESET_AFTER_HEADERS = "reset-after-headers"
STALL = "stall"
MALFORMED = "malformed"
BADSHAPE = "badshape"
HTML502 = "html502"
NOSTREAM = "nostream"
CUT_AT = "cut@"
ERROR_AT = "error@"
STALL_AT = "stall@"

_SIMPLE = {OK, RESET, RESET_AFTER_HEADERS, MALFORMED, BADSHAPE, HTML502, NOSTREAM}
# A bare "stall" waits until the server closes (or the client goes away).
STALL_FOREVER = math.inf


@dataclass(frozen=True, slots=True)
class Step:
    """One parsed step of a fault script.

    Attributes:
        kind: one of ``ok``, ``status``, ``reset``, ``reset-after-headers``,
            ``stall``, ``malformed``, ``badshape``, ``html502``, ``nostream``, ``cut@``,
            ``error@``, ``stall@``.
        status: the HTTP status for ``status`` steps (``0`` otherwise).
        retry_after: ``Retry-After`` in seconds, if asked for.
        retry_after_ms: ``retry-after-ms`` in milliseconds, if asked for.
        retry_after_date: seconds ahead of ``now`` for an HTTP-date ``Retry-After``.
        should_retry: value of ``x-should-retry``, if asked for.
        seconds: stall length for ``stall`` and ``stall@`` steps.
        events: the event count N of ``cut@N``, ``error@N``, ``stall@N``.
        error_type: the provider error type of ``error@N=TYPE`` (``None``: the default).
    """

    kind: str
    status: int = 0
    retry_after: float | None = None
    retry_after_ms: int | None = None
    retry_after_date: float | None = None
    should_retry: bool | None = None
    seconds: float = 0.0
    events: int = 0
    error_type: str | None = None

    def __str__(self) -> str:
        """Render the step back in script syntax (parse(str(step)) == step)."""
        k = self.kind
        if k == STATUS:
            opts = [str(self.status)]
            if self.retry_after is not None:
                opts.append(f"retry-after={_num(self.retry_after)}")
            if self.retry_after_ms is not None:
                opts.append(f"retry-after-ms={self.retry_after_ms}")
            if self.retry_after_date is not None:
                opts.append(f"retry-after-date={_num(self.retry_after_date)}")
            if self.should_retry is not None:
                opts.append(f"x-should-retry={'true' if self.should_retry else 'false'}")
            return ":".join(opts)
        if k == STALL:
            return "stall" if self.seconds == STALL_FOREVER else f"stall={_num(self.seconds)}"
        if k == CUT_AT:
            return f"cut@{self.events}"
        if k == ERROR_AT:
            return f"error@{self.events}" + (f"={self.error_type}" if self.error_type else "")
        if k == STALL_AT:
            return f"stall@{self.events}={_num(self.seconds)}"
        return k


OK_STEP = Step(OK)


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(float(x))


def _seconds(text: str, step: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"fault step {step!r}: {text!r} is not a number of seconds") from None
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"fault step {step!r}: seconds must be finite and >= 0")
    return value


def _count(text: str, step: str) -> int:
    if not text.isdigit():
        raise ValueError(f"fault step {step!r}: {text!r} is not an event count")
    return int(text)


def int_header(value: str | None, name: str) -> int | None:
    """A request header holding a non-negative integer (``x-mock-tokens``); None when absent.

    Raises:
        ValueError: the value is not a non-negative integer.
    """
    if value is None:
        return None
    if not value.strip().isdigit():
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    return int(value)


def _parse_step(raw: str) -> Step:
    s = raw.strip().lower()
    if not s:
        raise ValueError("empty fault step (two commas in a row?)")
    if s in _SIMPLE:
        return OK_STEP if s == OK else Step(s)
    if s == "stall":
        return Step(STALL, seconds=STALL_FOREVER)
    if s.startswith("stall="):
        return Step(STALL, seconds=_seconds(s[6:], raw))
    for kind in (CUT_AT, ERROR_AT, STALL_AT):
        if s.startswith(kind):
            n_text, _, arg = s[len(kind) :].partition("=")
            n = _count(n_text, raw)
            if kind == CUT_AT:
                if arg:
                    raise ValueError(f"fault step {raw!r}: cut@N takes no value")
                return Step(CUT_AT, events=n)
            if kind == ERROR_AT:
                return Step(ERROR_AT, events=n, error_type=arg or None)
            if not arg:
                raise ValueError(f"fault step {raw!r}: write stall@N=SECONDS")
            return Step(STALL_AT, events=n, seconds=_seconds(arg, raw))
    head, *options = s.split(":")
    if not (head.isdigit() and len(head) == 3 and 100 <= int(head) <= 599):
        raise ValueError(f"unknown fault step {raw!r}")
    fields: dict[str, object] = {}
    for opt in options:
        name, eq, value = opt.partition("=")
        if not eq:
            raise ValueError(f"fault step {raw!r}: option {opt!r} needs a value")
        if name == "retry-after":
            fields["retry_after"] = _seconds(value, raw)
        elif name == "retry-after-ms":
            fields["retry_after_ms"] = _count(value, raw)
        elif name == "retry-after-date":
            fields["retry_after_date"] = _seconds(value, raw)
        elif name == "x-should-retry":
            if value not in ("true", "false"):
                raise ValueError(f"fault step {raw!r}: x-should-retry is true or false")
            fields["should_retry"] = value == "true"
        else:
            raise ValueError(f"fault step {raw!r}: unknown option {name!r}")
    return Step(
        STATUS,
        status=int(head),
        retry_after=fields.get("retry_after"),  # type: ignore[arg-type]
        retry_after_ms=fields.get("retry_after_ms"),  # type: ignore[arg-type]
        retry_after_date=fields.get("retry_after_date"),  # type: ignore[arg-type]
        should_retry=fields.get("should_retry"),  # type: ignore[arg-type]
    )


def parse_script(script: str | None) -> tuple[Step, ...]:
    """Parse a fault script into steps.

    Args:
        script: comma-separated steps, e.g. ``"429:retry-after=2,500,ok"``;
            ``None`` or ``""`` is the empty script (every request ``ok``).

    Returns:
        The steps in order.

    Raises:
        ValueError: a step is not understood (the message names it).

    Example:
        >>> [str(s) for s in parse_script("429:retry-after=2, cut@3,ok")]
        ['429:retry-after=2', 'cut@3', 'ok']
    """
    if not script or not script.strip():
        return ()
    return tuple(_parse_step(part) for part in script.split(","))


class FaultPlan:
    """Scripts waiting to be consumed: one global queue plus one queue per key.

    Requests without a key consume the global queue; requests with a key
    (the ``x-mock-key`` header) consume that key's queue.  A key's script is
    installed once, by the first request that brings it (retries resend the
    same header and must not restart it), or by :meth:`set`.

    Example:
        >>> plan = FaultPlan("429,ok")
        >>> [plan.next().kind for _ in range(3)]
        ['status', 'ok', 'ok']
    """

    __slots__ = ("_global", "_keyed", "consumed")

    def __init__(self, script: str | None = None) -> None:
        self._global: list[Step] = list(reversed(parse_script(script)))
        self._keyed: dict[str, list[Step]] = {}
        self.consumed = 0  # non-ok steps handed out, for tests and stats

    @property
    def empty(self) -> bool:
        """True when no global step is pending (the server's fast path)."""
        return not self._global

    def set(self, script: str | None, key: str | None = None) -> None:
        """Replace the global script, or the script of ``key``."""
        steps = list(reversed(parse_script(script)))
        if key is None:
            self._global = steps
        else:
            self._keyed[key] = steps

    def install(self, key: str, script: str) -> None:
        """Install ``script`` for ``key`` unless that key already has one."""
        if key not in self._keyed:
            self._keyed[key] = list(reversed(parse_script(script)))

    def pending(self, key: str | None = None) -> tuple[Step, ...]:
        """The steps not consumed yet, in order."""
        queue = self._global if key is None else self._keyed.get(key, [])
        return tuple(reversed(queue))

    def next(self, key: str | None = None) -> Step:
        """Consume and return the next step (``ok`` once the script is exhausted)."""
        queue = self._global if key is None else self._keyed.get(key)
        if not queue:
            return OK_STEP
        step = queue.pop()
        if step.kind != OK:
            self.consumed += 1
        return step

    def clear(self) -> None:
        """Forget every script, global and keyed."""
        self._global = []
        self._keyed.clear()


def retry_headers(step: Step, now: float) -> list[tuple[str, str]]:
    """The retry-related response headers a status step asks for.

    Args:
        step: a parsed ``status`` step.
        now: the current wall-clock time (Unix seconds), for ``retry-after-date``.

    Returns:
        ``(name, value)`` pairs, e.g. ``[("retry-after", "2")]``.

    Example:
        >>> retry_headers(parse_script("429:retry-after-ms=150")[0], now=0.0)
        [('retry-after-ms', '150')]
    """
    out: list[tuple[str, str]] = []
    if step.retry_after is not None:
        out.append(("retry-after", _num(step.retry_after)))
    if step.retry_after_ms is not None:
        out.append(("retry-after-ms", str(step.retry_after_ms)))
    if step.retry_after_date is not None:
        out.append(("retry-after", formatdate(now + step.retry_after_date, usegmt=True)))
    if step.should_retry is not None:
        out.append(("x-should-retry", "true" if step.should_retry else "false"))
    return out


# -- strict provider ---------------------------------------------------------


class Bucket:
    """A continuously refilled budget (requests or tokens) with one second of burst.

    Args:
        per_minute: the budget, in units per minute.
        now: the time (monotonic seconds) at which the bucket starts full.

    Example:
        >>> b = Bucket(60, now=0.0)          # 1 per second, burst 1
        >>> b.try_take(1, now=0.0), b.try_take(1, now=0.5), b.try_take(1, now=1.0)
        (True, False, True)
    """

    __slots__ = ("capacity", "level", "limit", "rate", "updated")

    def __init__(self, per_minute: float, now: float) -> None:
        if per_minute <= 0:
            raise ValueError("a per-minute budget must be > 0")
        self.limit = per_minute
        self.rate = per_minute / 60.0
        self.capacity = max(1.0, self.rate)
        self.level = self.capacity
        self.updated = now

    def _refill(self, now: float) -> None:
        if now > self.updated:
            self.level = min(self.capacity, self.level + (now - self.updated) * self.rate)
            self.updated = now

    def wait_for(self, cost: float, now: float) -> float:
        """Seconds until a request of ``cost`` would pass (0.0: it passes now)."""
        self._refill(now)
        need = min(cost, self.capacity)
        return 0.0 if self.level >= need else (need - self.level) / self.rate

    def take(self, cost: float) -> None:
        """Debit ``cost`` (after :meth:`wait_for` said 0.0 at the same ``now``)."""
        self.level -= cost

    def try_take(self, cost: float, now: float) -> bool:
        """Debit ``cost`` if it passes now; return whether it did."""
        if self.wait_for(cost, now) > 0.0:
            return False
        self.level -= cost
        return True

    def remaining(self, now: float) -> int:
        """Whole units that may start right now."""
        self._refill(now)
        return max(0, int(self.level))

    def reset_in(self, now: float) -> float:
        """Seconds until the bucket is full again."""
        self._refill(now)
        return max(0.0, (self.capacity - self.level) / self.rate)


def format_duration(seconds: float) -> str:
    """Format a duration as OpenAI's ``x-ratelimit-reset-*`` headers do (Go style).

    Example:
        >>> [format_duration(s) for s in (0.12, 7.66, 360, 3723)]
        ['120ms', '7.66s', '6m0s', '1h2m3s']
    """
    if seconds < 1.0:
        return f"{round(seconds * 1000)}ms"
    hours, rest = divmod(seconds, 3600.0)
    minutes, secs = divmod(rest, 60.0)
    secs = round(secs, 2)
    if secs >= 60.0:  # rounding pushed it over
        minutes, secs = minutes + 1, 0.0
    s_text = f"{secs:.2f}".rstrip("0").rstrip(".") + "s"
    if hours:
        return f"{int(hours)}h{int(minutes)}m{s_text}"
    if minutes:
        return f"{int(minutes)}m{s_text}"
    return s_text


def format_rfc3339(unix_seconds: float) -> str:
    """Format a wall-clock time as Anthropic's ``anthropic-ratelimit-*-reset`` headers do.

    Example:
        >>> format_rfc3339(0.0)
        '1970-01-01T00:00:00Z'
    """
    return datetime.fromtimestamp(math.ceil(unix_seconds), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def join_steps(steps: Iterable[Step]) -> str:
    """Render steps back into a script (the inverse of :func:`parse_script`)."""
    return ",".join(str(s) for s in steps)

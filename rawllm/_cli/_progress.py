"""``rawllm batch``'s progress display: plain lines, or a live rich bar when available."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Callable
from typing import Any

from .._batch_api import Part, poll_line, state_counts
from .._batch_io import Tally, progress_line
from ._common import err

__all__ = ["PlainProgress", "batch_progress_for", "progress_for"]


class PlainProgress:
    """Plain progress: a line every ``interval`` seconds on stderr (and messages)."""

    def __init__(
        self,
        tally: Tally,
        started: float,
        interval: float | None,
        state: Callable[[], Any] | None = None,
    ) -> None:
        self.tally = tally
        self.started = started
        self.interval = interval
        self.state = state  # the client's limiter state, for the throttle display
        self._task: asyncio.Task[None] | None = None

    def refresh(self) -> None:
        """Read the limiter's throttle into the tally."""
        if self.state is not None:
            self.tally.observe_limiter(self.state())

    def start(self) -> None:
        if self.interval is not None:
            self._task = asyncio.get_running_loop().create_task(self._tick())

    async def _tick(self) -> None:
        assert self.interval is not None
        while True:
            await asyncio.sleep(self.interval)
            self.refresh()
            self.log(progress_line(self.tally, time.monotonic() - self.started))

    def update(self) -> None:
        pass

    def log(self, text: str) -> None:
        err(text)

    async def stop(self) -> None:
        self.refresh()
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None


class _RichProgress(PlainProgress):
    """A live display (rich): a bar with done/total and ETA, and a line of counters below.

    Rendering happens in rich's refresh thread (a few times a second); ``update()``
    only moves the bar, and the counters line reads the tally when drawn.
    """

    def __init__(
        self, tally: Tally, started: float, console: Any, state: Callable[[], Any] | None
    ) -> None:
        super().__init__(tally, started, None, state)
        from rich.console import Group
        from rich.live import Live
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self._progress = Progress(
            TextColumn("[bold]rawllm batch"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console,
        )
        self._task_id = self._progress.add_task("batch", total=self._total())
        self._live = Live(
            Group(self._progress, _Counters(self)), console=console, refresh_per_second=8
        )

    def _total(self) -> int | None:
        t = self.tally
        return None if t.total is None else max(t.total - t.skipped - t.malformed, 0)

    def counters(self) -> str:
        self.refresh()
        t = self.tally
        elapsed = time.monotonic() - self.started
        rate = t.done / elapsed if elapsed > 0 else 0.0
        failed = f"[red]{t.failed_total} failed[/]" if t.failed_total else "0 failed"
        line = (
            f"{failed} · {t.retries} retries · {t.rate_limited}×429 · {rate:.1f} req/s · "
            f"{t.prompt_tokens + t.completion_tokens:,} tokens · {_clock(elapsed)} elapsed"
        )
        if t.throttled is not None:
            line += f" · [yellow]{escape(t.throttled)}[/]"
        return line

    def start(self) -> None:
        self._live.start()

    def update(self) -> None:
        self._progress.update(self._task_id, completed=self.tally.done, total=self._total())

    def log(self, text: str) -> None:
        self._live.console.print(text, markup=False, highlight=False)

    async def stop(self) -> None:
        self.refresh()
        self.update()
        self._live.stop()


class _Counters:
    """The counters line under the bar, computed when rich draws it."""

    def __init__(self, owner: _RichProgress) -> None:
        self._owner = owner

    def __rich__(self) -> Any:
        from rich.text import Text

        return Text.from_markup(self._owner.counters())


def _clock(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def escape(text: str) -> str:
    """Text shown inside rich markup, brackets escaped."""
    return text.replace("[", "\\[")


def progress_for(
    args: argparse.Namespace,
    tally: Tally,
    started: float,
    state: Callable[[], Any] | None = None,
) -> PlainProgress:
    mode = args.progress
    if mode in ("auto", "rich"):
        if mode == "rich" or sys.stderr.isatty():
            try:
                from rich.console import Console
            except ImportError:
                if mode == "rich":
                    err("rawllm: rich is not installed (pip install 'rawllm[cli]'); plain lines")
            else:
                return _RichProgress(tally, started, Console(stderr=True), state)
        return PlainProgress(tally, started, args.progress_interval, state)
    if mode == "plain":
        return PlainProgress(tally, started, args.progress_interval, state)
    return PlainProgress(tally, started, None, state)


# -- --via batch-api ------------------------------------------------------------------


def _requests_done(parts: list[Part]) -> tuple[int, int, int]:
    total = sum(p.requests for p in parts)
    done = sum(p.counts.get("completed", 0) + p.counts.get("failed", 0) for p in parts)
    failed = sum(p.counts.get("failed", 0) for p in parts)
    return total, done, failed


class _Rate:
    """Requests per second by the provider's own counts, measured since this run first
    saw progress (a resumed run does not credit itself with the work done before)."""

    def __init__(self) -> None:
        self.first: tuple[float, int] | None = None

    def eta(self, parts: list[Part], now: float) -> float | None:
        total, done, _ = _requests_done(parts)
        if self.first is None:
            self.first = (now, done)
            return None
        t0, d0 = self.first
        if done <= d0 or now <= t0 or done >= total:
            return None
        return (total - done) / ((done - d0) / (now - t0))


class BatchPlainProgress:
    """Plain lines for a Batch API run: one when something changes, at most every
    ``interval`` seconds, and one every ``interval`` seconds anyway."""

    def __init__(self, parts: list[Part], started: float, interval: float | None) -> None:
        self.parts = parts
        self.started = started
        self.interval = interval
        self._last = ""
        self._last_at = 0.0
        self._task: asyncio.Task[None] | None = None
        self.rate = _Rate()

    def line(self) -> str:
        now = time.monotonic()
        return poll_line(self.parts, now - self.started, self.rate.eta(self.parts, now))

    def start(self) -> None:
        if self.interval is not None:
            self._task = asyncio.get_running_loop().create_task(self._tick())

    async def _tick(self) -> None:
        assert self.interval is not None
        while True:
            await asyncio.sleep(self.interval)
            self.log(self.line())
            self._last_at = time.monotonic()

    def update(self) -> None:
        if self.interval is None:
            return
        now = time.monotonic()
        text = self.line()
        key = "; ".join(text.split("; ")[:2])  # without the elapsed time
        if key != self._last and now - self._last_at >= min(self.interval, 1.0):
            self._last, self._last_at = key, now
            self.log(text)

    def log(self, text: str) -> None:
        err(text)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None


class _BatchRichProgress(BatchPlainProgress):
    """A live display: a bar of requests done (the provider's counts), and a line with the
    batches per state, failures, elapsed time and the ETA from the provider's counts."""

    def __init__(self, parts: list[Part], started: float, console: Any) -> None:
        super().__init__(parts, started, None)
        from rich.console import Group
        from rich.live import Live
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        self._progress = Progress(
            TextColumn("[bold]rawllm batch (Batch API)"),
            BarColumn(),
            MofNCompleteColumn(),
            console=console,
        )
        self._task_id = self._progress.add_task("batch", total=_requests_done(parts)[0])
        self._live = Live(
            Group(self._progress, _BatchCounters(self)), console=console, refresh_per_second=4
        )

    def counters(self) -> str:
        _, _, failed = _requests_done(self.parts)
        now = time.monotonic()
        elapsed = now - self.started
        states = " · ".join(f"{n} {k}" for k, n in sorted(state_counts(self.parts).items()))
        eta = self.rate.eta(self.parts, now)
        failed_text = f"[red]{failed} failed[/]" if failed else "0 failed"
        return f"batches: {states} · {failed_text} · {_clock(elapsed)} elapsed" + (
            f" · ETA {_clock(eta)} (provider counts)" if eta is not None else ""
        )

    def start(self) -> None:
        self._live.start()

    def update(self) -> None:
        total, done, _ = _requests_done(self.parts)
        self._progress.update(self._task_id, completed=done, total=total)

    def log(self, text: str) -> None:
        self._live.console.print(text, markup=False, highlight=False)

    async def stop(self) -> None:
        self.update()
        self._live.stop()


class _BatchCounters:
    def __init__(self, owner: _BatchRichProgress) -> None:
        self._owner = owner

    def __rich__(self) -> Any:
        from rich.text import Text

        return Text.from_markup(self._owner.counters())


def batch_progress_for(
    args: argparse.Namespace, parts: list[Part], started: float
) -> BatchPlainProgress:
    mode = args.progress
    if mode in ("auto", "rich") and (mode == "rich" or sys.stderr.isatty()):
        try:
            from rich.console import Console
        except ImportError:
            if mode == "rich":
                err("rawllm: rich is not installed (pip install 'rawllm[cli]'); plain lines")
        else:
            return _BatchRichProgress(parts, started, Console(stderr=True))
    if mode == "none":
        return BatchPlainProgress(parts, started, None)
    return BatchPlainProgress(parts, started, args.progress_interval)

"""``rawllm batch``'s progress display: plain lines, or a live rich bar when available."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from typing import Any

from .._batch_io import Tally, progress_line
from ._common import err

__all__ = ["PlainProgress", "progress_for"]


class PlainProgress:
    """Plain progress: a line every ``interval`` seconds on stderr (and messages)."""

    def __init__(self, tally: Tally, started: float, interval: float | None) -> None:
        self.tally = tally
        self.started = started
        self.interval = interval
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self.interval is not None:
            self._task = asyncio.get_running_loop().create_task(self._tick())

    async def _tick(self) -> None:
        assert self.interval is not None
        while True:
            await asyncio.sleep(self.interval)
            self.log(progress_line(self.tally, time.monotonic() - self.started))

    def update(self) -> None:
        pass

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


class _RichProgress(PlainProgress):
    """A live display (rich): a bar with done/total and ETA, and a line of counters below.

    Rendering happens in rich's refresh thread (a few times a second); ``update()``
    only moves the bar, and the counters line reads the tally when drawn.
    """

    def __init__(self, tally: Tally, started: float, console: Any) -> None:
        super().__init__(tally, started, None)
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
        t = self.tally
        elapsed = time.monotonic() - self.started
        rate = t.done / elapsed if elapsed > 0 else 0.0
        failed = f"[red]{t.failed_total} failed[/]" if t.failed_total else "0 failed"
        return (
            f"{failed} · {t.retries} retries · {t.rate_limited}×429 · {rate:.1f} req/s · "
            f"{t.prompt_tokens + t.completion_tokens:,} tokens · {_clock(elapsed)} elapsed"
        )

    def start(self) -> None:
        self._live.start()

    def update(self) -> None:
        self._progress.update(self._task_id, completed=self.tally.done, total=self._total())

    def log(self, text: str) -> None:
        self._live.console.print(text, markup=False, highlight=False)

    async def stop(self) -> None:
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


def progress_for(args: argparse.Namespace, tally: Tally, started: float) -> PlainProgress:
    mode = args.progress
    if mode in ("auto", "rich"):
        if mode == "rich" or sys.stderr.isatty():
            try:
                from rich.console import Console
            except ImportError:
                if mode == "rich":
                    err("rawllm: rich is not installed (pip install 'rawllm[cli]'); plain lines")
            else:
                return _RichProgress(tally, started, Console(stderr=True))
        return PlainProgress(tally, started, args.progress_interval)
    if mode == "plain":
        return PlainProgress(tally, started, args.progress_interval)
    return PlainProgress(tally, started, None)

"""The CLI runs on uvloop when it is installed ([speed] extra), on asyncio's loop otherwise."""

from __future__ import annotations

import asyncio
import sys
import types
from typing import Any

import pytest

from rawllm._cli._common import run_async


async def _loop_module() -> int:
    seen.append(type(asyncio.get_running_loop()).__module__)
    return 7


seen: list[str] = []


def test_without_uvloop_the_cli_uses_asyncio(monkeypatch: pytest.MonkeyPatch) -> None:
    seen.clear()
    monkeypatch.setitem(sys.modules, "uvloop", None)  # import uvloop -> ImportError
    assert run_async(_loop_module()) == 7
    assert seen[0].startswith("asyncio")


def test_with_uvloop_the_cli_runs_on_it(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Any] = []
    fake = types.ModuleType("uvloop")

    def run(coro: Any) -> Any:
        calls.append(coro)
        return asyncio.run(coro)

    fake.run = run  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "uvloop", fake)
    assert run_async(_loop_module()) == 7
    assert len(calls) == 1


def test_the_real_uvloop_when_installed() -> None:
    pytest.importorskip("uvloop", reason="the [speed] extra is not installed here")
    seen.clear()
    assert run_async(_loop_module()) == 7
    assert seen[0].startswith("uvloop")

"""Shared fixtures for integration tests: a MockServer on 127.0.0.1, started and closed per test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from rawllm.testing import MockServer


@pytest.fixture
async def mock_server() -> AsyncIterator[MockServer]:
    """A started MockServer with default options (random port, no faults)."""
    async with MockServer() as server:
        yield server

"""Every ```python block of docs/migration.md and docs/azure.md runs against MockServer."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from rawllm.testing import MockServer

DOCS = Path(__file__).resolve().parents[2] / "docs"
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def _blocks(name: str) -> list[tuple[str, str]]:
    text = (DOCS / name).read_text()
    return [(f"{name}#{i}", code) for i, code in enumerate(BLOCK.findall(text))]


CASES = _blocks("migration.md") + _blocks("azure.md")


@pytest.fixture(scope="module")
def server() -> MockServer:
    srv = MockServer().start_in_thread()
    yield srv
    srv.stop_thread()


@pytest.mark.parametrize(("where", "code"), CASES, ids=[c[0] for c in CASES])
def test_doc_snippet_runs(
    where: str,
    code: str,
    server: MockServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", server.openai_base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-docs-test-0000")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", server.anthropic_base_url)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-docs-test-0000")
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", server.url)
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "azure-docs-key")
    monkeypatch.setenv("OPENAI_API_VERSION", "2024-10-21")
    monkeypatch.setenv("GATEWAY_API_KEY", "gateway-docs-key")
    for name in ("AZURE_OPENAI_AD_TOKEN", "OPENAI_ORG_ID", "OPENAI_PROJECT_ID"):
        monkeypatch.delenv(name, raising=False)
    before = len(server.requests)
    errors_before = {k: v for k, v in server.status_counts.items() if k >= 400}
    exec(compile(code, where, "exec"), {"__name__": "__main__"})
    assert capsys.readouterr().out.strip(), f"{where} printed nothing"
    assert len(server.requests) > before, f"{where} sent nothing"
    errors = {
        k: v for k, v in server.status_counts.items() if k >= 400 and v != errors_before.get(k)
    }
    expected = {404} if "no-such-model" in code else set()
    assert set(errors) == expected, f"{where}: unexpected error statuses {errors}"

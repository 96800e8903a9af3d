"""The docs cite only files that exist: every `rawllm/...`, `tests/...`, `benchmarks/...`,
`examples/...` or `docs/...` path written in a page names a real file or folder."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAGES = sorted((ROOT / "docs").rglob("*.md")) + [ROOT / "README.md"]
CITED = re.compile(r"`((?:rawllm|tests|benchmarks|examples|docs)/[\w./-]*?)(?:::\w+)?`")


def cited_paths(text: str) -> set[str]:
    return {m.group(1).rstrip("/.") for m in CITED.finditer(text)}


def test_the_pattern_finds_paths() -> None:
    text = "see `rawllm/_client.py`, `tests/unit/`, `tests/x.py::test_y` and `rawllm.OpenAI`"
    assert cited_paths(text) == {"rawllm/_client.py", "tests/unit", "tests/x.py"}


def test_every_cited_path_exists() -> None:
    missing = [
        f"{page.relative_to(ROOT)}: {path}"
        for page in PAGES
        for path in sorted(cited_paths(page.read_text()))
        if not (ROOT / path).exists()
    ]
    assert not missing, missing

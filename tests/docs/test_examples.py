"""Every Python example in the documentation and in examples/ runs, against a MockServer.

The rule the pages follow (see docs/contributing-docs.md):

- A ```` ```python ```` block is a complete program: imports, ``async def main()``,
  ``asyncio.run(main())``.  Its clients read ``OPENAI_API_KEY`` /
  ``OPENAI_BASE_URL`` / ``ANTHROPIC_API_KEY`` / ``ANTHROPIC_BASE_URL``, which this
  test points at a MockServer that knows only real model ids and requires the key.
- A block that defines ``test_*`` functions is a test module and runs under pytest.
- A block that cannot run here starts with ``# not run: <why>``: the reason is on the
  page for every reader to see.  Shell goes in ```` ```bash ````, output in ```` ```text ````.

One subprocess per page (blocks in page order, each in a fresh namespace), one per
file in examples/, except the served apps that have their own end-to-end test.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from rawllm.testing import MockServer

ROOT = Path(__file__).resolve().parents[2]
RUNNER = Path(__file__).with_name("run_blocks.py")
KEY = "docs-example-key"
PAGES = sorted(p.relative_to(ROOT) for p in (ROOT / "docs").rglob("*.md")) + [Path("README.md")]
EXAMPLES = sorted(p.relative_to(ROOT) for p in (ROOT / "examples").glob("*.py"))
# Served apps, tested end to end by their own test instead of being run as scripts.
SERVED = {"examples/fastapi_app.py": "tests/integration/test_fastapi_example.py"}

_OPEN = re.compile(r"^(?P<indent>[ \t]*)```(?P<lang>[\w+-]*)[^\n]*$")
_NOT_RUN = re.compile(r"^# not run: \S")
_INCLUDE = re.compile(r'^--8<-- "(?P<path>[^"]+)"$')  # pymdownx.snippets, as the site renders it


@dataclass
class Block:
    where: str
    code: str
    includes: tuple[str, ...] = ()

    @property
    def skipped(self) -> bool:
        # a served example is run by its own end-to-end test, not as a script
        return self.code.startswith("# not run:") or any(i in SERVED for i in self.includes)

    @property
    def is_test_module(self) -> bool:
        return re.search(r"^(async )?def test_", self.code, re.M) is not None


def python_blocks(path: Path) -> Iterator[Block]:
    """The ```python blocks of a Markdown file (indented ones in lists too)."""
    lines = (ROOT / path).read_text().splitlines()
    i = 0
    while i < len(lines):
        m = _OPEN.match(lines[i])
        if m is None:
            i += 1
            continue
        indent, start = m["indent"], i + 1
        i += 1
        body: list[str] = []
        while i < len(lines) and lines[i].strip() != "```":
            line = lines[i]
            body.append(line[len(indent) :] if line.startswith(indent) else line)
            i += 1
        i += 1
        if m["lang"] in ("python", "py"):
            includes = tuple(inc["path"] for inc in map(_INCLUDE.match, body) if inc is not None)
            code = "\n".join(
                (ROOT / inc["path"]).read_text().rstrip("\n")
                if (inc := _INCLUDE.match(line))
                else line
                for line in body
            )
            yield Block(f"{path}:{start}", code + "\n", includes)


@pytest.fixture(scope="module")
def server() -> Iterator[MockServer]:
    with MockServer(api_key=KEY, strict_models=True, record=False) as srv:
        yield srv


def example_env(server: MockServer) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OPENAI_", "ANTHROPIC_", "AZURE_"))
        and not k.lower().endswith("_proxy")
    }
    env.update(
        OPENAI_BASE_URL=server.openai_base_url,
        OPENAI_API_KEY=KEY,
        ANTHROPIC_BASE_URL=server.anthropic_base_url,
        ANTHROPIC_API_KEY=KEY,
        AZURE_OPENAI_ENDPOINT=server.url,  # the mock serves Azure's routes too
        AZURE_OPENAI_API_KEY=KEY,
        AZURE_OPENAI_AD_TOKEN=KEY,  # the mock takes the key as a bearer token as well
        OPENAI_API_VERSION="2024-10-21",
        PYTHONPATH=str(ROOT) + os.pathsep + env.get("PYTHONPATH", ""),
        PYTHONWARNINGS="error",
        COLUMNS="80",
    )
    return env


def run_page(path: Path, server: MockServer, tmp: Path) -> subprocess.CompletedProcess[str]:
    blocks = [b for b in python_blocks(path) if not b.skipped]
    spec = tmp / "blocks.json"
    spec.write_text(
        json.dumps([{"where": b.where, "code": b.code, "pytest": b.is_test_module} for b in blocks])
    )
    return subprocess.run(
        [sys.executable, str(RUNNER), str(spec)],
        cwd=tmp,
        env=example_env(server),
        capture_output=True,
        text=True,
        timeout=120,
    )


def has_examples(path: Path) -> bool:
    return any(not b.skipped for b in python_blocks(path))


RUN_PAGES = [p for p in PAGES if has_examples(p)]


def run_script(path: Path, server: MockServer, tmp: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / path)],
        cwd=tmp,
        env=example_env(server),
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def results(
    request: pytest.FixtureRequest, server: MockServer, tmp_path_factory: pytest.TempPathFactory
) -> dict[Path, subprocess.CompletedProcess[str]]:
    """The selected pages and scripts, run a few at a time (most of a run is start-up)."""
    selected = {
        item.callspec.params["path"]
        for item in request.session.items
        if item.module is request.module and hasattr(item, "callspec")
    }
    selected.add(Path("README.md"))  # the quickstart test reads it
    jobs: list[tuple[Path, Any]] = [(p, run_page) for p in RUN_PAGES if p in selected]
    jobs += [(p, run_script) for p in EXAMPLES if str(p) not in SERVED and p in selected]
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = {
            path: pool.submit(fn, path, server, tmp_path_factory.mktemp("example"))
            for path, fn in jobs
        }
        return {path: future.result() for path, future in futures.items()}


@pytest.mark.parametrize("path", RUN_PAGES, ids=str)
def test_every_python_block_of_the_page_runs(
    path: Path, results: dict[Path, subprocess.CompletedProcess[str]]
) -> None:
    proc = results[path]
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]


@pytest.mark.parametrize("path", [p for p in EXAMPLES if str(p) not in SERVED], ids=str)
def test_every_example_script_runs(
    path: Path, results: dict[Path, subprocess.CompletedProcess[str]]
) -> None:
    proc = results[path]
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]


def test_served_examples_have_their_own_test() -> None:
    for example, test in SERVED.items():
        assert (ROOT / example).is_file() and (ROOT / test).is_file(), example


def test_skipped_blocks_say_why_on_the_page() -> None:
    skipped = [b for p in PAGES for b in python_blocks(p) if b.skipped and not b.includes]
    for block in skipped:
        assert _NOT_RUN.match(block.code), f"{block.where}: '# not run:' needs a reason"
    # rare by design: each one is a page saying it shows something this test cannot host
    assert len(skipped) <= 5, [b.where for b in skipped]


def test_the_extractor_finds_indented_blocks_and_only_python(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "# T\n\n```bash\nrawllm mock\n```\n\n1. A list item:\n\n"
        "    ```python\n    import rawllm\n    print(1)\n    ```\n\n"
        "```python\n# not run: needs a GPU\nx = 1\n```\n"
    )
    blocks = list(python_blocks(page))
    assert [b.code for b in blocks] == [
        "import rawllm\nprint(1)\n",
        "# not run: needs a GPU\nx = 1\n",
    ]
    assert [b.skipped for b in blocks] == [False, True]
    assert blocks[0].where.endswith("page.md:9")  # the opening fence
    # an included file is the block's code; a served app's include is tested elsewhere
    page.write_text('```python\n--8<-- "examples/fastapi_app.py"\n```\n')
    (served,) = python_blocks(page)
    assert served.skipped and "FastAPI(lifespan=lifespan)" in served.code
    found = {b.where.split(":")[0] for p in PAGES for b in python_blocks(p)}
    assert "README.md" in found and "docs/quickstart.md" in found


def test_the_readme_quickstart_runs_as_printed(
    results: dict[Path, subprocess.CompletedProcess[str]],
) -> None:
    proc = results[Path("README.md")]
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout.splitlines()
    # the stream's text ends its own line before the finish reason is printed
    assert "stop" in out, out
    # the NotFoundError branch ran: the mock knows no model "gpt-nope"
    assert any(line.startswith("404 ") for line in out), out

"""The public surface: __all__ complete and sorted; the sans-IO core imports no IO libraries."""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

import rawllm

ROOT = Path(__file__).resolve().parent.parent
PKG = ROOT / "rawllm"

CORE_MODULES = [
    "sse.py",
    "_retry.py",
    "_ratelimit.py",
    "_ratelimit_headers.py",
    "_congestion.py",
    "_tokens.py",
    "_exceptions.py",
    "_config.py",
    "_accumulate.py",
    "_accumulate_events.py",
    "_wire/openai.py",
    "_wire/anthropic.py",
    "_wire/responses.py",
    "_wire/_common.py",
    "_wire/_tolerant.py",
    "_body_reader.py",
    "types/_base.py",
    "types/openai.py",
    "types/anthropic.py",
    "types/responses.py",
    "types/_responses_items.py",
    "testing/_faults.py",
    "testing/_batch_store.py",
    "testing/_planning.py",
    "testing/_errors.py",
    "testing/_strict.py",
    "testing/_enforce.py",
    "testing/_render.py",
    "testing/_render_common.py",
    "testing/_render_chat.py",
    "testing/_render_responses.py",
    "testing/_render_anthropic.py",
    "_batch_io.py",
    "_batch_api.py",
    "_multipart.py",
    "_stop_rule.py",
    "types/batches.py",
]
FORBIDDEN = {"aiohttp", "asyncio", "yarl", "multidict"}
# The core takes `now` and an RNG as arguments; it never reads them itself.
CLOCK_OR_RNG_CALLS = {
    ("time", "time"),
    ("time", "monotonic"),
    ("time", "perf_counter"),
    ("random", "random"),
    ("random", "uniform"),
    ("random", "randint"),
    ("random", "choice"),
    ("datetime", "now"),
    ("datetime", "utcnow"),
}


def _clock_reads(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name)
            and (node.func.value.id, node.func.attr) in CLOCK_OR_RNG_CALLS
        ):
            found.append(f"{node.func.value.id}.{node.func.attr}()")
    return found


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_all_is_sorted_and_complete() -> None:
    exported = rawllm.__all__
    assert exported == sorted(exported, key=lambda s: (not s.isupper(), s))
    for name in exported:
        assert getattr(rawllm, name) is not None, name
    public = {
        name
        for name, value in vars(rawllm).items()
        if not name.startswith("_") and not isinstance(value, type(rawllm))
    }
    public.discard("annotations")
    public.discard("TYPE_CHECKING")
    public.discard("Any")
    assert public <= set(exported), public - set(exported)


def test_error_names_match_the_contract() -> None:
    for name in [
        "APIError",
        "APIConnectionError",
        "APITimeoutError",
        "APIResponseValidationError",
        "APIStatusError",
        "BadRequestError",
        "AuthenticationError",
        "PermissionDeniedError",
        "NotFoundError",
        "ConflictError",
        "UnprocessableEntityError",
        "RequestTooLargeError",
        "RateLimitError",
        "InternalServerError",
        "OverloadedError",
    ]:
        assert issubclass(getattr(rawllm, name), rawllm.APIError)


def test_core_modules_do_no_io() -> None:
    for rel in CORE_MODULES:
        path = PKG / rel
        assert path.exists(), f"core module missing: {rel}"
        bad = _imports(path) & FORBIDDEN
        assert not bad, f"{rel} imports {sorted(bad)}"
        reads = _clock_reads(path)
        assert not reads, f"{rel} reads a clock or RNG: {reads}"


def test_only_transport_imports_aiohttp_in_the_client() -> None:
    # _sessions: the transport's per-loop session keeper; _providers: TYPE_CHECKING only
    allowed = {"_transport.py", "_sessions.py", "_providers.py"}
    for path in PKG.glob("*.py"):
        if path.name in allowed:
            continue
        assert "aiohttp" not in _imports(path), path.name


def test_runtime_dependencies_are_exactly_three() -> None:
    # aiolimiter was dropped (nothing in rawllm/ used it; docs/rate-limits.md says why):
    # an installed-but-unused dependency is not listed.
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    deps = meta["project"]["dependencies"]
    names = {re.split(r"[<>=!~\[; ]", d, maxsplit=1)[0].lower() for d in deps}
    assert names == {"aiohttp", "msgspec", "backoff"}
    assert all(">=" in d for d in deps), "pin lower bounds"


def test_version() -> None:
    assert re.fullmatch(r"\d+\.\d+\.\d+.*", rawllm.__version__)

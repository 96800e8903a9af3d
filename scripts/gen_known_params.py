"""Regenerate rawllm/_known_params.py from the installed official SDKs' method signatures.

Usage (from the repository root, with the [test] extra installed)::

    python scripts/gen_known_params.py           # rewrite rawllm/_known_params.py
    python scripts/gen_known_params.py --check   # exit 1 if the file is out of date

Each rawllm method that takes ``**params`` accepts exactly the keyword
arguments of the official SDK method of the same name, so that code moving
from ``openai`` / ``anthropic`` keeps working, and a typo raises ``TypeError``
instead of being sent.  tests/unit/test_params.py compares the file with the
installed SDKs, so a new SDK release that adds a parameter shows up as one
failing test and one run of this script.
"""

from __future__ import annotations

import importlib
import inspect
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "rawllm" / "_known_params.py"

# rawllm method -> (module, class, method) of the official async SDK.
SOURCES: dict[str, tuple[str, str, str]] = {
    "chat.completions.create": ("openai.resources.chat.completions", "AsyncCompletions", "create"),
    "chat.completions.parse": ("openai.resources.chat.completions", "AsyncCompletions", "parse"),
    "chat.completions.stream": ("openai.resources.chat.completions", "AsyncCompletions", "stream"),
    "embeddings.create": ("openai.resources.embeddings", "AsyncEmbeddings", "create"),
    "responses.create": ("openai.resources.responses", "AsyncResponses", "create"),
    "responses.parse": ("openai.resources.responses", "AsyncResponses", "parse"),
    "responses.stream": ("openai.resources.responses", "AsyncResponses", "stream"),
    "responses.retrieve": ("openai.resources.responses", "AsyncResponses", "retrieve"),
    "messages.create": ("anthropic.resources.messages", "AsyncMessages", "create"),
    "messages.stream": ("anthropic.resources.messages", "AsyncMessages", "stream"),
    "messages.count_tokens": ("anthropic.resources.messages", "AsyncMessages", "count_tokens"),
}

# Keyword arguments every rawllm method handles itself (not body fields).
OPTIONS = frozenset({"self", "extra_headers", "extra_query", "extra_body", "timeout"})


def sdk_params(module: str, cls: str, method: str) -> list[str]:
    """The keyword parameters of an official SDK method, without the request options."""
    fn = getattr(getattr(importlib.import_module(module), cls), method)
    return sorted(p for p in inspect.signature(fn).parameters if p not in OPTIONS)


def render() -> str:
    import anthropic
    import openai

    lines = [
        '"""Keyword arguments of the official SDKs\' methods (generated: do not edit).',
        "",
        "Regenerate with ``python scripts/gen_known_params.py``; generated from",
        f"openai {openai.__version__} and anthropic {anthropic.__version__}.",
        '"""',
        "",
        "from __future__ import annotations",
        "",
        "KNOWN: dict[str, tuple[str, ...]] = {",
    ]
    for name, (module, cls, method) in SOURCES.items():
        lines.append(f'    "{name}": (')
        lines.extend(f'        "{p}",' for p in sdk_params(module, cls, method))
        lines.append("    ),")
    lines.append("}")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        current = OUT.read_text() if OUT.exists() else ""
        # The version line may differ while the lists agree.
        same = current.split('"""', 2)[2:] == text.split('"""', 2)[2:]
        print("up to date" if same else f"{OUT} is out of date: run {Path(__file__).name}")
        return 0 if same else 1
    OUT.write_text(text)
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

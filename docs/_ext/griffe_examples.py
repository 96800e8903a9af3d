"""A griffe extension for the API reference: two habits of rawllm's docstrings.

- The style guide's single ``Example:`` heading: griffe's Google parser knows only
  the plural, and would render the doctest lines as prose.
- Parameters documented together (``timeout, max_retries: as for rawllm.OpenAI``,
  the names possibly running over two lines): griffe wants one name per entry.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_EXAMPLE = re.compile(r"^(\s*)Example:[ \t]*$", re.MULTILINE)
# names, then the description with its deeper-indented continuation lines
_GROUPED = re.compile(
    r"^(?P<indent>[ \t]+)(?P<names>\w+(?:,\s*\w+)+):(?P<desc>.*(?:\n(?P=indent)[ \t]+\S.*)*)$",
    re.MULTILINE,
)


def _one_per_name(match: re.Match[str]) -> str:
    indent, desc = match["indent"], match["desc"]
    names = [n.strip() for n in match["names"].split(",")]
    return "\n".join(f"{indent}{name}:{desc}" for name in names)


class ExampleSections(griffe.Extension):
    """Rewrite both habits in a docstring before it is parsed."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            value = _EXAMPLE.sub(r"\1Examples:", obj.docstring.value)
            obj.docstring.value = _GROUPED.sub(_one_per_name, value)

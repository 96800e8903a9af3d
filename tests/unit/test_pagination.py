"""Async pagination: cursor rules (pure) and the paginator over a fake fetch."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rawllm._pagination import AsyncPaginator, next_after, next_after_id, next_cursor


@dataclass
class Item:
    id: str


@dataclass
class Page:
    data: list[Item]
    has_more: bool = False
    first_id: str | None = None
    last_id: str | None = None


@dataclass
class NoMore:
    data: list[Item] = field(default_factory=list)


def test_openai_cursor() -> None:
    assert next_after(Page([Item("a"), Item("b")], True), {"limit": 2}) == {
        "limit": 2,
        "after": "b",
    }
    assert next_after(Page([Item("a")], False), {}) is None
    assert next_after(Page([], True), {}) is None
    assert next_after(NoMore([Item("a")]), {}) is None  # models list: one page


def test_anthropic_cursor() -> None:
    page = Page([Item("a"), Item("b")], True, "a", "b")
    assert next_after_id(page, {"limit": 2}) == {"limit": 2, "after_id": "b"}
    assert next_after_id(page, {"before_id": "z"}) == {"before_id": "a"}
    assert next_after_id(Page([Item("a")], False, "a", "a"), {}) is None


@dataclass
class Unsaid:
    """A Batch API page that may leave out ``has_more`` and ``last_id``."""

    data: list[Item]
    has_more: bool | None = None
    last_id: str | None = None


def test_batch_list_cursor() -> None:
    after = next_cursor("after")
    page = Unsaid([Item("a"), Item("b")], True, "b")
    assert after(page, {"limit": 2}) == {"limit": 2, "after": "b"}
    assert next_cursor("after_id")(page, {}) == {"after_id": "b"}
    # no last_id: the last item's id; no has_more: followed until an empty page
    assert after(Unsaid([Item("a"), Item("c")]), {}) == {"after": "c"}
    assert after(Unsaid([Item("a")], False, "a"), {}) is None
    assert after(Unsaid([], True, "a"), {}) is None


def test_batch_cursor_pages_backwards_from_before_id() -> None:
    """Anthropic's before_id lists page backwards: before_id moves to the first id."""
    rule = next_cursor("after_id")
    page = Page([Item("c"), Item("d")], True, first_id="c", last_id="d")
    assert rule(page, {"before_id": "e", "limit": 2}) == {"before_id": "c", "limit": 2}
    assert rule(Page([Item("c")], True), {"before_id": "e"}) == {"before_id": "c"}
    assert rule(Page([Item("c")], False, "c", "c"), {"before_id": "e"}) is None
    # OpenAI's "after" rule has no backwards mode
    assert next_cursor("after")(page, {"before_id": "e"}) == {"before_id": "e", "after": "d"}


async def test_paginator_follows_pages_and_awaits_the_first() -> None:
    ids = [str(i) for i in range(7)]
    seen: list[dict[str, Any]] = []

    async def fetch(query: dict[str, Any]) -> Page:
        seen.append(dict(query))
        start = ids.index(query["after_id"]) + 1 if "after_id" in query else 0
        chunk = ids[start : start + query["limit"]]
        return Page([Item(i) for i in chunk], start + len(chunk) < len(ids), chunk[0], chunk[-1])

    pager: AsyncPaginator[Page, Item] = AsyncPaginator(fetch, {"limit": 3}, next_after_id)
    assert [item.id async for item in pager] == ids
    assert seen == [{"limit": 3}, {"limit": 3, "after_id": "2"}, {"limit": 3, "after_id": "5"}]
    first = await pager
    assert [i.id for i in first.data] == ["0", "1", "2"] and first.has_more
    pages = [p async for p in pager.pages()]
    assert [len(p.data) for p in pages] == [3, 3, 1]

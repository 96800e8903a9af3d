"""Async pagination: ``await`` a list call for its first page, ``async for`` for every item.

The cursor rules are pure functions of the page just read and the query that
read it:

- OpenAI cursor pages (files, batches, ...): while ``has_more``, the next page
  is ``after=<id of the last item>``; a page with no ``has_more`` field (the
  models list) is the only page;
- Anthropic pages: while ``has_more``, the next page is ``after_id=<last_id>``
  (or, when paging backwards with ``before_id``, ``before_id=<first_id>``);
- Batch API lists (``files``, ``batches``, ``messages.batches``): the next
  page is ``<cursor>=<last id>`` (the page's ``last_id``, else its last
  item's ``id``) until a page is empty or says ``has_more: false``; a page
  without ``has_more`` is followed, since these lists take the cursor.

Example:
    >>> async for model in client.models.list():
    ...     print(model.id)
    >>> page = await client.models.list()      # the first page; .data, .has_more
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Mapping
from typing import Any, Generic, TypeVar

__all__ = ["AsyncPaginator", "next_after", "next_after_id", "next_cursor"]

P = TypeVar("P")
T = TypeVar("T")

Query = dict[str, Any]


def next_after(page: Any, query: Mapping[str, Any]) -> Query | None:
    """The query of the page after ``page`` for OpenAI cursor pages, or None at the end.

    Example:
        >>> class Page: has_more = True; data = [type("M", (), {"id": "a"})()]
        >>> next_after(Page(), {"limit": 1})
        {'limit': 1, 'after': 'a'}
    """
    data = getattr(page, "data", None)
    if not getattr(page, "has_more", False) or not data:
        return None
    last = getattr(data[-1], "id", None)
    if last is None:
        return None
    return {**query, "after": last}


def next_after_id(page: Any, query: Mapping[str, Any]) -> Query | None:
    """The query of the next page for Anthropic pages, or None at the end.

    Example:
        >>> class Page: has_more = True; first_id = "a"; last_id = "b"
        >>> next_after_id(Page(), {"limit": 2})
        {'limit': 2, 'after_id': 'b'}
    """
    if not getattr(page, "has_more", False):
        return None
    if query.get("before_id") is not None:
        first = getattr(page, "first_id", None)
        return None if first is None else {**query, "before_id": first}
    last = getattr(page, "last_id", None)
    return None if last is None else {**query, "after_id": last}


def next_cursor(name: str) -> Callable[[Any, Mapping[str, Any]], Query | None]:
    """The cursor rule of the Batch API lists, sending the last id as ``name``.

    With ``name="after_id"`` (Anthropic) and ``before_id`` in the query, the
    list is read backwards, as ``next_after_id`` does: ``before_id`` becomes
    the page's first id.

    Example:
        >>> class Page: has_more = None; last_id = "b"; data = [1]
        >>> next_cursor("after")(Page(), {"limit": 1})
        {'limit': 1, 'after': 'b'}
    """

    def rule(page: Any, query: Mapping[str, Any]) -> Query | None:
        data = page.data
        if not data or page.has_more is False:
            return None
        if name == "after_id" and query.get("before_id") is not None:
            # Anthropic pages backwards from before_id: the next page is before this one's first.
            first = page.first_id or data[0].id
            return None if first is None else {**query, "before_id": first}
        last = page.last_id or data[-1].id
        return None if last is None else {**query, name: last}

    return rule


class AsyncPaginator(Generic[P, T]):
    """What a list call returns: awaitable (the first page) and async-iterable (every item).

    Each ``async for`` starts again from the first page; pages are fetched one at a
    time, as the iteration reaches them (memory holds one page).
    """

    __slots__ = ("_fetch", "_next", "_query")

    def __init__(
        self,
        fetch: Callable[[Query], Awaitable[P]],
        query: Query,
        next_query: Callable[[P, Query], Query | None],
    ) -> None:
        self._fetch = fetch
        self._query = query
        self._next = next_query

    def __await__(self) -> Generator[Any, None, P]:
        return self._fetch(dict(self._query)).__await__()

    def __aiter__(self) -> AsyncIterator[T]:
        return self._items()

    async def _items(self) -> AsyncIterator[T]:
        query: Query | None = dict(self._query)
        while query is not None:
            page = await self._fetch(query)
            for item in getattr(page, "data", ()):
                yield item
            query = self._next(page, query)

    def pages(self) -> AsyncIterator[P]:
        """Iterate over whole pages instead of items."""
        return self._pages()

    async def _pages(self) -> AsyncIterator[P]:
        query: Query | None = dict(self._query)
        while query is not None:
            page = await self._fetch(query)
            yield page
            query = self._next(page, query)

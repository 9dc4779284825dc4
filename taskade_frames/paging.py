"""Listings: small strategies that say where the next page is, one loop that walks them.

Each list operation in ``operations.OPERATIONS`` names its strategy in
``paging``: ``cursor`` (``after`` = the last item's id), ``page`` (``page``
counted from 1) or ``single`` (one call answers everything). A strategy only
shapes the next request and reads where a page leaves off, in the manner of
dlt's rest_client paginators. The loop in ``Pager`` owns everything that makes
a listing trustworthy: de-duplication, the repeat guards, the budget and the
``ListingReport``. It talks to the client only through ``send``,
``page_limit`` and ``learn_limit`` (and reads ``max_pages`` and
``listing_deadline``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar, Protocol

from . import _ahead
from .decoding import TypedPage
from .errors import (
    BadRequestError,
    InvalidResponseError,
    ListingChangedError,
    NotFoundError,
    PaginationError,
    redact,
)
from .operations import Operation

__all__ = [
    "MAX_CURSOR_FALLBACKS",
    "MAX_RELISTS",
    "PAGINATORS",
    "CursorAfterLastId",
    "Decode",
    "Listing",
    "ListingReport",
    "PageNumber",
    "PageSource",
    "Pager",
    "Paginator",
    "SingleCall",
    "fetch_all",
    "item_key",
    "paginate",
]

log = logging.getLogger("taskade_frames.paging")

# Cursor fallbacks: if the item we page after was deleted between two pages,
# the server answers 404; paging after an earlier item of the same page is
# safe (de-duplication drops the overlap). Bounded so a vanished project ends.
MAX_CURSOR_FALLBACKS = 5
# A listing that changed under the cursor is read again from the start, at most this often.
MAX_RELISTS = 2
# Where a tree item names its parent; a cursor item seen again under another parent moved.
PARENT_FIELD = "parentId"


@dataclass
class ListingReport:
    """How a full listing went: proof that nothing was silently dropped."""

    operation: str
    params: dict[str, Any]
    pages: int = 0
    rows: int = 0
    duplicates_dropped: int = 0
    null_items: int = 0
    page_size: int | None = None
    limit_fallback: bool = False
    cursor_fallbacks: int = 0
    replaced_surrogates: int = 0
    relists: int = 0
    stop_reason: str = "not finished"
    complete: bool = False
    started_at: str = ""
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Listing:
    """Every item of a listing, with its report."""

    items: list[dict[str, Any]]
    report: ListingReport


# Offered a 2xx body before the plain decode: an envelope, or None for the plain path.
Decode = Callable[[bytes], "dict[str, Any] | None"]


class PageSource(Protocol):
    """What the pager needs from a client (``TaskadeClient`` is one)."""

    max_pages: int
    listing_deadline: float | None

    def send(
        self, op: Operation, body: dict[str, Any], decode: Decode | None = None
    ) -> dict[str, Any]: ...
    def page_limit(self, op: Operation) -> int: ...
    def learn_limit(self, op: Operation, limit: int) -> None: ...


class EarlyAnswer(Protocol):
    """A request sent ahead (``TaskadeClient.send_early``): its answer once, or dropped."""

    def result(self, decode: Decode | None = None) -> dict[str, Any]: ...
    def discard(self) -> None: ...


def item_key(value: Any) -> Hashable:
    """The de-duplication key of an item's id: distinct JSON values stay distinct.

    A string is its own key; a number is ``("number", value)``, so ``5`` and
    ``5.0`` (one JSON number) meet but ``5`` and ``"5"`` do not; a boolean is
    ``("bool", value)``, so ``true`` never merges with ``1`` as it would in a
    Python set. Any other value (an array, an object) cannot be an id.

    >>> item_key("5") == item_key(5), item_key(1) == item_key(True)
    (False, False)

    Raises:
        TypeError: the id is not a string, number or boolean.
    """
    kind = type(value)
    if kind is str:
        return value
    if kind is bool:
        return ("bool", value)
    if kind is int or kind is float:
        return ("number", value)
    raise TypeError(f"an id must be a string or a number, not {kind.__name__}")


def quote(value: object, width: int = 80) -> str:
    """A short excerpt of server text for a message: redacted first, then cut."""
    try:
        text = value if isinstance(value, str) else str(value)
    except RecursionError:
        text = "<too deeply nested to show>"
    return repr(redact(text)[:width])


# -- strategies --------------------------------------------------------------------------


class Paginator:
    """Where the next page is: ``update_request`` shapes it, ``update_state`` reads a page.

    ``position`` is what the next request asks for (a cursor, a page number);
    the loop refuses to ask a position twice unless ``retry_same_position``.
    A strategy never de-duplicates or judges repeats: the loop does.
    """

    name: ClassVar[str]
    position_name: ClassVar[str] = "position"
    retry_same_position: ClassVar[bool] = False

    has_next: bool = True
    stop_reason: str = "empty page"
    anchor: dict[str, Any] | None = None  # the item the next request pages after
    expected: dict[str, Any] | None = None  # an item the next page must repeat

    def position(self) -> Any:
        return None

    def update_request(self, request: dict[str, Any]) -> dict[str, Any]:
        return request

    def update_state(self, ids: list[Any], keys: list[Hashable], items: list[Any]) -> None:
        """Read a page that brought new items (``ids`` raw, ``keys`` normalised)."""

    def fall_back(self) -> Hashable | None:
        """After a 404 on the position: move to a safer one; its key, or ``None``."""
        return None

    def tolerated_repeats(self) -> set[Hashable] | None:
        """Seen keys the next page may hold without evidence of a move (``None``: any)."""
        return None

    def next_limit(self, served: int) -> int | None:
        """A new ``limit`` once a page showed how many items the server serves."""
        return None

    def probe(self, offset: int) -> dict[str, Any] | None:
        """A one-item request for the item at ``offset``, to tell a clamped end apart."""
        return None

    def guess_next(
        self, request: dict[str, Any], content: bytes, key: str
    ) -> dict[str, Any] | None:
        """The request likely to follow ``request``, read from its raw answer, to send ahead.

        Only a guess (see ``_ahead``): the loop uses what comes back only when
        its own next request turns out the same. ``None``: nothing to send ahead.
        """
        return None


class SingleCall(Paginator):
    """One call answers every item: ``{"ok": true, "items": [{"id": "s1"}, ...]}``."""

    name = "single"

    def update_request(self, request: dict[str, Any]) -> dict[str, Any]:
        request.pop("limit", None)  # single-call operations take no paging fields
        return request

    def update_state(self, ids: list[Any], keys: list[Hashable], items: list[Any]) -> None:
        self.has_next = False
        self.stop_reason = "single call"


class CursorAfterLastId(Paginator):
    """Ask ``after`` = the id of the item before the previous page's last, until nothing follows.

    ``{"items": [{"id": "t1"}, {"id": "t2"}, {"id": "t3"}]}`` -> next request
    ``{"after": "t2"}``, whose answer must start with ``t3`` again. That one
    item of overlap per page is the proof that the listing did not move under
    the cursor: had ``t3`` moved (forward, back, or to another parent), the
    items between its old and new place would be skipped without a trace. A
    page holding nothing but the overlap ends the listing. Pages of one item
    cannot overlap: they page after their only item.
    """

    name = "cursor"
    position_name = "cursor"

    def __init__(self, after: Any = None) -> None:
        self.after = None if after is None else str(after)
        self.expected: dict[str, Any] | None = None  # the item the next page must hold
        self._page_ids: list[Any] = []  # as sent: str() of the few that are asked for
        self._page_keys: list[Hashable] = []
        self._page_items: list[Any] = []
        self._order: list[int] = []  # the page's items to page after, in the order to try
        self._step = 0
        self._at = -1
        self._sent: set[str] = set()

    def position(self) -> Any:
        return self.after

    def update_request(self, request: dict[str, Any]) -> dict[str, Any]:
        if self.after is not None:
            request["after"] = self.after
            self._sent.add(self.after)
        return request

    def update_state(self, ids: list[Any], keys: list[Hashable], items: list[Any]) -> None:
        self._page_ids = ids
        self._page_keys, self._page_items = keys, items
        last = len(ids) - 1
        # The item before the last, then (if that one is gone) the last, then earlier ones.
        # A cursor already sent is not sent again (a one-item page after an echoed one).
        first = last - 1 if last >= 1 and str(ids[last - 1]) not in self._sent else last
        earlier = range(first - 1, max(last - 1 - MAX_CURSOR_FALLBACKS, 0) - 1, -1)
        self._order = [first, *([last] if first != last else []), *earlier]
        self._step = 0
        self._move_to(first)

    def _move_to(self, at: int) -> None:
        self._at = at
        self.after = str(self._page_ids[at])
        self.anchor = self._page_items[at]
        last = len(self._page_ids) - 1
        self.expected = self._page_items[last] if at < last else None

    def fall_back(self) -> Hashable | None:
        self._step += 1
        if self._step >= len(self._order):
            return None
        self._move_to(self._order[self._step])
        return self._page_keys[self._at]

    def tolerated_repeats(self) -> set[Hashable] | None:
        return set(self._page_keys[max(self._at, 0) :])

    def guess_next(
        self, request: dict[str, Any], content: bytes, key: str
    ) -> dict[str, Any] | None:
        """``update_state``'s usual choice, the item before the last, read from the bytes.
        A one-item page is left alone: it is usually the one that ends a listing."""
        found = _ahead.last_ids(content, key)
        if found is None:
            return None
        before_last, _ = found
        # Paging after an item already paged after: a page repeated, or a server that
        # echoes the cursor item. Rare, and the loop's to judge: nothing is sent ahead.
        return None if before_last in self._sent else dict(request, after=before_last)


class PageNumber(Paginator):
    """Ask ``page`` = 1, 2, 3... with a ``limit``, until a page is empty.

    ``{"page": 2, "limit": 20}`` -> ``{"items": [... 20 members ...]}`` -> ``{"page": 3}``.
    ``probe`` asks for one item at an offset (``limit`` 1): that tells a server
    which clamps page numbers (past the end it answers the last page again)
    from one stuck on an earlier page.
    """

    name = "page"
    position_name = "page"
    retry_same_position = True

    def __init__(self, page: Any = 1) -> None:
        self.first = self.page = int(page)
        self._limit = 0
        self._base: int | None = None  # items before the first page asked

    def position(self) -> Any:
        return self.page

    def update_request(self, request: dict[str, Any]) -> dict[str, Any]:
        request["page"] = self.page
        self._limit = int(request["limit"])
        if self._base is None:
            self._base = (self.first - 1) * self._limit
        return request

    def update_state(self, ids: list[Any], keys: list[Hashable], items: list[Any]) -> None:
        self.page += 1

    def next_limit(self, served: int) -> int | None:
        """A short first page is either the whole listing or a server cap. Asking
        the next page with limit = what came back is right either way: an empty
        page if that was all, else the next items, whether the server counts
        offsets in the limit asked for or in its own cap."""
        if self.page == self.first + 1 and served < self._limit:
            return served
        return None

    def probe(self, offset: int) -> dict[str, Any] | None:
        return {"page": (self._base or 0) + offset + 1, "limit": 1}


PAGINATORS: dict[str, type[Paginator]] = {
    "single": SingleCall,
    "cursor": CursorAfterLastId,
    "page": PageNumber,
}


# -- the one loop --------------------------------------------------------------------------


class Pager:
    """One pass over a listing. Iterate for items, or ``pages()`` for lists of new items.

    The loop, whatever the strategy:

    - de-duplicates by ``item_key`` of the operation's key; ``null`` items are
      skipped and counted; an item without a usable id is an ``InvalidResponseError``;
    - never asks the same cursor twice, and stops when two answers in a row
      bring nothing new (``PaginationError``, within a few requests);
    - numbered pages: an answer with nothing new is asked again once (a server
      may answer an earlier page by mistake). When it repeats exactly the page
      just before it, one probe first asks for the single item after all those
      seen: an empty answer, or the last item seen once more (what a server
      that clamps page numbers answers), ends the listing complete, and
      ``stop_reason`` says which. A new item means the repeat was a glitch: the
      page is asked again. An earlier item means the server is stuck on an
      earlier page: ``PaginationError``;
    - cursor pages overlap by one item (see ``CursorAfterLastId``). That item
      missing (asked for directly, it still exists), or back under another
      parent, or a page holding other items seen before the cursor, shows the
      listing moved under the cursor: ``ListingChangedError`` (``fetch_all``
      reads it again). A cursor item that was deleted is fine: the items after
      it come next. An unread item moved to before an unmoved cursor cannot be
      seen from the answers (no count, no positions in the API);
    - ends with ``PaginationError`` after ``max_pages`` requests or
      ``listing_deadline`` seconds (a listing that grows faster than it is read).

    With ``read_ahead`` (the default), a ``decode`` and a client that has
    ``send_early``, the next request of a cursor listing leaves as soon as a
    page's bytes arrive, and the page is decoded while the server works on
    the next; that answer is used only when the loop, after every check
    above, asks exactly that (see ``_ahead``). The first guess that misses
    turns reading ahead off for the rest of the listing.
    """

    def __init__(
        self,
        client: PageSource,
        op: Operation,
        body: dict[str, Any],
        *,
        clock: Callable[[], float] = time.monotonic,
        decode: Decode | None = None,
        read_ahead: bool = True,
    ):
        self.client = client
        self.op = op
        self.decode = decode
        self.body = {k: v for k, v in body.items() if k not in ("limit", "page", "after")}
        self.paginator = _strategy(op, body)
        self.report = ListingReport(operation=op.name, params=dict(self.body))
        self.limit = int(body.get("limit") or client.page_limit(op))
        self.seen: set[Hashable] = set()
        self._clock = clock
        self._started = 0.0
        self._used = False
        self._asked: set[Any] = set()
        self._prev_keys: list[Hashable] = []
        self._stale = 0  # answers in a row that brought nothing new
        self._overlap: Hashable | None = None  # key of the item this page repeats on purpose
        # Only with a decoder (the large listings): the page's bytes are seen first.
        self._send_early = getattr(client, "send_early", None) if read_ahead else None
        self._read_ahead = decode is not None and self._send_early is not None
        self._ahead: _Ahead | None = None  # the next request, already sent

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for page in self.pages():
            yield from page

    def pages(self) -> Iterator[list[dict[str, Any]]]:
        """Yield pages (lists of new items) until the listing is complete."""
        if self._used:
            raise RuntimeError("a Pager walks its listing once; call paginate() again")
        self._used = True
        rep = self.report
        rep.started_at = datetime.now(UTC).isoformat(timespec="seconds")
        self._started = self._clock()
        try:
            yield from self._walk()
        finally:
            self._drop_ahead()  # an answer still on its way is not wanted
            rep.seconds = round(self._clock() - self._started, 6)

    def _walk(self) -> Iterator[list[dict[str, Any]]]:
        strategy, rep = self.paginator, self.report
        while True:
            self._check_budget()
            request = strategy.update_request(dict(self.body, limit=self.limit))
            payload = self._send(request)
            if payload is None:
                continue  # a fallback changed what to ask
            rep.pages += 1
            rep.page_size = request.get("limit")
            raw = self._items(payload)
            self._check_overlap(raw)
            if not raw:
                self._finish(strategy.stop_reason)
                return
            ids, keys, items, fresh = self._accept(raw)
            if not fresh and self._only_overlap(keys):
                self._finish(strategy.stop_reason)  # nothing follows the cursor item
                return
            if fresh:
                rep.rows += len(fresh)
                yield fresh
            stop = self._advance(len(raw), ids, keys, items, bool(fresh))
            if stop is not None:
                self._finish(stop)
                return

    def _finish(self, reason: str) -> None:
        self.report.stop_reason = reason
        self.report.complete = True

    def _check_budget(self) -> None:
        op, rep = self.op.name, self.report
        if rep.pages >= self.client.max_pages:
            raise PaginationError(
                f"{op}: stopped after {rep.pages} pages (max_pages); the listing is incomplete",
                operation=op,
                pages=rep.pages,
            )
        deadline = getattr(self.client, "listing_deadline", None)
        if deadline is not None and self._clock() - self._started > deadline:
            rep.stop_reason = "deadline"
            raise PaginationError(
                f"{op}: the listing did not end within listing_deadline={deadline:g}s "
                f"({rep.pages} pages, {rep.rows} items); it may be growing faster than it "
                "can be read. The listing is incomplete",
                operation=op,
                pages=rep.pages,
            )

    def _send(self, request: dict[str, Any]) -> dict[str, Any] | None:
        """Send one page request; ``None`` when a fallback means: ask again differently."""
        op, rep, strategy = self.op, self.report, self.paginator
        self._asked.add(strategy.position())
        ahead, self._ahead = self._ahead, None
        if ahead is not None and ahead.request != request:
            log.debug("%s: the request sent ahead was not the next one", op.name)
            ahead.answer.discard()
            ahead = None
            self._read_ahead = False  # a guess missed: this server's pages defeat it
        try:
            return self._request_page(request, ahead)
        except BadRequestError:
            # Some servers refuse a large limit. Fall back to the spec's
            # default once, and remember it for this operation.
            fallback = op.spec_limit
            if rep.pages == 0 and not rep.limit_fallback and fallback and self.limit > fallback:
                log.info("%s refused limit=%d; falling back to %d", op.name, self.limit, fallback)
                self.limit = fallback
                rep.limit_fallback = True
                self.client.learn_limit(op, fallback)
                return None
            raise
        except NotFoundError:
            # The cursor item was deleted: page after an earlier item of the same page.
            if rep.cursor_fallbacks < MAX_CURSOR_FALLBACKS and strategy.fall_back() is not None:
                rep.cursor_fallbacks += 1
                return None
            raise

    def _request_page(self, request: dict[str, Any], ahead: _Ahead | None) -> dict[str, Any]:
        """The answer to ``request``: the one read ahead, when that is what was sent."""
        op = self.op
        try:
            if ahead is not None:
                return ahead.answer.result(self._first_look(request))
            if self._read_ahead:
                return self.client.send(op, request, decode=self._first_look(request))
            if self.decode is not None:
                return self.client.send(op, request, decode=self.decode)
            return self.client.send(op, request)
        except BaseException:
            self._drop_ahead()  # sent on the word of an answer that failed
            raise

    def _first_look(self, request: dict[str, Any]) -> Decode:
        """The decoder for ``request``'s answer, which first sends the request likely
        to follow it, so that the server builds that page while this one is decoded."""
        decode, send_early = self.decode, self._send_early
        assert decode is not None and send_early is not None

        def first_look(content: bytes) -> dict[str, Any] | None:
            if self._ahead is None and self._read_ahead:
                try:
                    guess = self.paginator.guess_next(request, content, self.op.key)
                    answer = None if guess is None else send_early(self.op, guess)
                except Exception as exc:  # reading ahead never fails a page; it stops instead
                    log.debug("%s: reading ahead stopped (%s)", self.op.name, type(exc).__name__)
                    guess = answer = None
                    self._read_ahead = False
                if guess is not None and answer is not None:
                    self._ahead = _Ahead(guess, answer)
            return decode(content)

        return first_look

    def _drop_ahead(self) -> None:
        ahead, self._ahead = self._ahead, None
        if ahead is not None:
            ahead.answer.discard()

    def _items(self, payload: dict[str, Any]) -> list[Any] | TypedPage:
        raw = payload.get("items")
        if not isinstance(raw, list | TypedPage):
            raise InvalidResponseError(
                f"{self.op.name}: page {self.report.pages} has no `items` list",
                operation=self.op.name,
                status=200,
            )
        return raw

    def _accept(self, raw: list[Any] | TypedPage) -> tuple[list[Any], list[Hashable], Any, Any]:
        """``(ids, keys, items, fresh)`` of a page: raw ids, their keys, the items, new ones."""
        if isinstance(raw, TypedPage):
            return self._accept_typed(raw)
        key, seen, overlap = self.op.key, self.seen, self._overlap
        # Fast path, the common case: every item a dict with a fresh string id,
        # after the cursor item a cursor page repeats on purpose.
        try:
            ids = [item[key] for item in raw]
        except (TypeError, KeyError, IndexError):
            ids = None
        skip = 1 if ids and overlap is not None and ids[0] == overlap else 0
        if (
            ids is not None
            and all(type(i) is str for i in ids)
            and all(type(item) is dict for item in raw)
            and seen.isdisjoint(ids[skip:])
            and len(set(ids)) == len(ids)
        ):
            seen.update(ids)
            return ids, ids, raw, raw[skip:]
        ids, keys, items = self._identify(raw, count_nulls=True)
        self._check_moves(ids, keys, items)
        fresh = []
        for k, item in zip(keys, items, strict=True):
            if k == overlap:
                continue  # asked for, not a duplicate
            if k in seen:
                self.report.duplicates_dropped += 1
                continue
            seen.add(k)
            fresh.append(item)
        return ids, keys, items, fresh

    def _accept_typed(self, page: TypedPage) -> tuple[list[Any], list[Any], Any, Any]:
        """The same for a typed page: its items are objects with string ids by construction,
        so only repeats can go, and the new rows stay columns."""
        ids, seen, overlap = page.keys, self.seen, self._overlap
        skip = 1 if ids and overlap is not None and ids[0] == overlap else 0
        if seen.isdisjoint(ids[skip:]):
            before = len(seen)
            seen.update(ids)
            if len(seen) == before + len(ids) - skip:
                return ids, ids, page, page.take(range(1, len(ids))) if skip else page
            seen.difference_update(ids[skip:])  # a repeat within the page: judge item by item
        self._check_moves(ids, ids, page)
        keep = []
        for at, k in enumerate(ids):
            if k == overlap:
                continue  # asked for, not a duplicate
            if k in seen:
                self.report.duplicates_dropped += 1
                continue
            seen.add(k)
            keep.append(at)
        return ids, ids, page, page.take(keep)

    def _identify(
        self, raw: Sequence[Any], *, count_nulls: bool
    ) -> tuple[list[Any], list[Hashable], list[dict[str, Any]]]:
        """Ids, keys and items of a page, nulls skipped; a typed error for a bad item."""
        name, key = self.op.name, self.op.key
        ids, keys, items = [], [], []
        for item in raw:
            if item is None:
                self.report.null_items += count_nulls
                continue
            ident = item.get(key) if isinstance(item, dict) else None
            if ident is None:
                raise InvalidResponseError(
                    f"{name}: an item without {key!r}: {quote(item)}", operation=name, status=200
                )
            try:
                keys.append(item_key(ident))
            except TypeError:
                raise InvalidResponseError(
                    f"{name}: an item whose {key!r} is not a string or a number: {quote(item)}",
                    operation=name,
                    status=200,
                ) from None
            ids.append(ident)
            items.append(item)
        return ids, keys, items

    def _check_overlap(self, raw: list[Any] | TypedPage) -> None:
        """Find the item a cursor page must repeat; raise if it moved, accept if it is gone."""
        self._overlap = None
        expected, key, name = self.paginator.expected, self.op.key, self.op.name
        if expected is None:
            return
        ident = expected[key]
        found = _find(raw, key, ident)
        if found is not None:
            if found.get(PARENT_FIELD) != expected.get(PARENT_FIELD):
                raise ListingChangedError(
                    f"{name}: the cursor item {quote(ident)} moved to another parent "
                    "while the listing was read, so items may have been skipped. It is "
                    "not complete; read it again",
                    operation=name,
                    pages=self.report.pages,
                )
            self._overlap = item_key(ident)
            return
        # Not after the item before it any more: deleted (fine), or moved (items skipped).
        try:
            self.client.send(self.op, dict(self.body, limit=1, after=str(ident)))
        except NotFoundError:
            self.report.cursor_fallbacks += 1
            return
        raise ListingChangedError(
            f"{name}: the cursor item {quote(ident)} no longer follows the item before it: "
            "it moved while the listing was read, so items may have been skipped. It is not "
            "complete; read it again",
            operation=name,
            pages=self.report.pages,
        )

    def _only_overlap(self, keys: list[Hashable]) -> bool:
        """A cursor page of nothing but items asked for again: the listing has ended."""
        if self._overlap is None:
            return False
        tolerated = self.paginator.tolerated_repeats() or set()
        return all(k in tolerated for k in keys)

    def _check_moves(
        self, ids: Sequence[Any], keys: Sequence[Hashable], items: Sequence[Any]
    ) -> None:
        """Raise when a cursor page shows that the listing moved under the cursor."""
        strategy, name = self.paginator, self.op.name
        tolerated = strategy.tolerated_repeats()
        if tolerated is None or not self.seen:
            return
        if ids and (str(ids[-1]) in self._asked or keys == self._prev_keys):
            self._repeated(strategy.position())  # the server answered an earlier page again
        moved = [i for i, k in zip(ids, keys, strict=True) if k in self.seen and k not in tolerated]
        if moved:
            raise ListingChangedError(
                f"{name}: page {self.report.pages} holds {len(moved)} item(s) already read "
                f"before the cursor (first {quote(moved[0])}): the listing moved while it was "
                "read, so items may have been skipped. It is not complete; read it again",
                operation=name,
                pages=self.report.pages,
            )
        anchor = strategy.anchor
        if anchor is not None:
            anchor_key = item_key(anchor[self.op.key])
            for k, item in zip(keys, items, strict=True):
                if k == anchor_key and item.get(PARENT_FIELD) != anchor.get(PARENT_FIELD):
                    raise ListingChangedError(
                        f"{name}: the cursor item {quote(anchor[self.op.key])} moved to "
                        "another parent while the listing was read, so items may have been "
                        "skipped. It is not complete; read it again",
                        operation=name,
                        pages=self.report.pages,
                    )

    def _repeated(self, position: Any) -> None:
        name, strategy = self.op.name, self.paginator
        raise PaginationError(
            f"{name}: the server repeated the {strategy.position_name} {quote(position)} "
            f"after {self.report.pages} pages; stopping rather than looping",
            operation=name,
            pages=self.report.pages,
        )

    def _advance(
        self, served: int, ids: list[Any], keys: list[Hashable], items: list[Any], new: bool
    ) -> str | None:
        """Move the strategy on after a page; a stop reason when the listing is complete."""
        strategy, rep, name = self.paginator, self.report, self.op.name
        self._stale = 0 if new else self._stale + 1
        if self._stale >= 2:
            raise PaginationError(
                f"{name}: pages {rep.pages - 1} and {rep.pages} only repeated items already "
                "seen; stopping rather than looping",
                operation=name,
                pages=rep.pages,
            )
        if not new and strategy.retry_same_position:
            # Nothing new: the server answered an earlier page. Moving on would
            # skip this page's items, so ask the same page again, unless it
            # is the page just before and the listing may have ended (clamped).
            return self._probe_end(keys) if keys == self._prev_keys else None
        if not ids:
            raise PaginationError(
                f"{name}: page {rep.pages} holds no item to continue after",
                operation=name,
                pages=rep.pages,
            )
        strategy.update_state(ids, keys, items)
        self._prev_keys = keys
        if not strategy.has_next:
            return strategy.stop_reason
        if strategy.position() in self._asked:
            self._repeated(strategy.position())
        self.limit = strategy.next_limit(served) or self.limit
        return None

    def _probe_end(self, keys: list[Hashable]) -> str | None:
        """The page repeated the one before: did the listing end (clamped), or is it stuck?"""
        strategy, rep, name = self.paginator, self.report, self.op.name
        request = strategy.probe(len(self.seen))
        if request is None:
            return None
        self._check_budget()
        payload = self.client.send(self.op, dict(self.body, **request))
        rep.pages += 1
        _, found, _ = self._identify(self._items(payload), count_nulls=False)
        if not found:
            return "empty page"
        if any(k not in self.seen for k in found):
            return None  # more follows: the repeat was a glitch; ask that page again
        if found[-1] == keys[-1]:
            return (
                f"clamped: page {strategy.position()} repeated page "
                f"{strategy.position() - 1}, and nothing follows it"
            )
        raise PaginationError(
            f"{name}: page {strategy.position()} repeated items already seen, and asked for "
            f"item {len(self.seen) + 1} the server answered an earlier one; it is stuck on "
            "earlier pages, stopping rather than looping",
            operation=name,
            pages=rep.pages,
        )


@dataclass(frozen=True)
class _Ahead:
    """A request sent before the page it follows was checked, and its answer to come."""

    request: dict[str, Any]
    answer: EarlyAnswer


def _find(raw: list[Any] | TypedPage, key: str, ident: Any) -> Mapping[str, Any] | None:
    """The item of a page whose ``key`` is ``ident`` (same JSON type), or ``None``."""
    if isinstance(raw, TypedPage):
        at = raw.keys.index(ident) if isinstance(ident, str) and ident in raw.keys else None
        return None if at is None else raw[at]
    for got in raw:  # the item is first on a clean page
        if isinstance(got, dict) and type(got.get(key)) is type(ident) and got[key] == ident:
            return got
    return None


def _strategy(op: Operation, body: dict[str, Any]) -> Paginator:
    if op.paging == "cursor":
        return CursorAfterLastId(body.get("after"))
    if op.paging == "page":
        return PageNumber(body.get("page", 1))
    if op.paging == "single":
        return SingleCall()
    raise ValueError(f"{op.name} is not a list operation")


def paginate(
    client: PageSource,
    op: Operation,
    body: dict[str, Any],
    *,
    decode: Decode | None = None,
    read_ahead: bool = True,
) -> Pager:
    """A ``Pager`` over ``op`` (the layer under ``TaskadeClient.paginate``).

    With ``decode``, a page the decoder takes is yielded as a ``TypedPage``
    (columns), any other page as a list of dicts.
    """
    if op.paging not in PAGINATORS:
        raise ValueError(f"{op.name} is not a list operation")
    if "before" in body:
        raise ValueError("paginate() walks forward with `after`; use call() for `before`")
    return Pager(client, op, body, decode=decode, read_ahead=read_ahead)


def fetch_all(client: PageSource, op: Operation, body: dict[str, Any]) -> Listing:
    """Every item of a listing and its report; a listing that moved is read again.

    At most ``MAX_RELISTS`` times, then the ``ListingChangedError`` is raised.
    """
    for relists in range(MAX_RELISTS + 1):
        pager = paginate(client, op, body)
        try:
            items = list(pager)
        except ListingChangedError:
            if relists == MAX_RELISTS:
                raise
            log.info("%s changed while it was read; reading it again", op.name)
            continue
        pager.report.relists = relists
        return Listing(items, pager.report)
    raise AssertionError("unreachable")  # pragma: no cover

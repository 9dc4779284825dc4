"""Typed page decoding: the JSON bytes of a listing page straight into Arrow columns.

Decoding a page of a million-task listing into dicts costs more than fetching
it, and the dicts are thrown away once their values are in columns. For an
entity whose columns are plain API fields (strings, booleans, integers,
floats), msgspec decodes a page into small structs of exactly those fields,
skipping every other field unread, and each field becomes an Arrow array.

A page that does not fit that shape is not an error here: an item that is
null or not an object, a value of another type, a missing key, a lone
surrogate, a number out of range, an envelope without ``ok: true``. The
decoder then returns None and the caller takes the plain path (``json``,
dicts, the general conversion), which owns every rule for odd data. So the
typed path can only ever give what the plain path gives, only sooner.

Measured on pages of 1,000 tasks (``benchmarks/bench_decode.py``): msgspec
typed decoding plus Arrow conversion takes about half the time of
``json.loads`` plus the same conversion, orjson about three quarters, and
``pyarrow.json`` (which reads a page as one NDJSON line) longer than either.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from operator import attrgetter
from typing import Any, overload

__all__ = ["PageDecoder", "Row", "TypedPage", "concat_columns"]

# Column kind -> the one Python type msgspec may accept for it. ``bool`` is
# not an ``int`` to msgspec, nor an int a float's stand-in for a bool, so a
# value of any other JSON type sends the page to the plain path.
_PY_TYPES: dict[str, type] = {"string": str, "bool": bool, "int": int, "float": float}


class TypedPage(Sequence["Row"]):
    """One page decoded into Arrow arrays, one per column, and its keys in page order.

    A sequence of rows like the list of items it stands for (so a pager treats
    an empty one as the end of a listing, and can read an item's fields), but
    the values live in ``columns``. ``keys`` are Python strings: the pager's
    de-duplication and cursor need them.
    """

    __slots__ = ("api", "columns", "keys")

    def __init__(self, columns: dict[str, Any], keys: list[str], api: Mapping[str, str]):
        self.columns = columns
        self.keys = keys
        self.api = api  # API field -> column

    def __len__(self) -> int:
        return len(self.keys)

    @overload
    def __getitem__(self, index: int) -> Row: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[Row]: ...
    def __getitem__(self, index: int | slice) -> Row | Sequence[Row]:
        if isinstance(index, slice):
            return [Row(self, i) for i in range(len(self.keys))[index]]
        if not -len(self.keys) <= index < len(self.keys):
            raise IndexError(index)
        return Row(self, index % len(self.keys))

    def __repr__(self) -> str:
        return f"TypedPage({len(self.keys)} items, columns={list(self.columns)})"

    def take(self, indices: Sequence[int]) -> TypedPage:
        """The rows at ``indices``, in that order (the pager drops duplicates with it).

        A ``range`` of step 1 (all but the item a cursor page repeats) is a slice:
        no copy.
        """
        import pyarrow as pa

        if isinstance(indices, range) and indices.step == 1:
            start, stop = indices.start, max(indices.start, indices.stop)
            return TypedPage(
                {name: arr.slice(start, stop - start) for name, arr in self.columns.items()},
                self.keys[start:stop],
                self.api,
            )
        picked = pa.array(indices, type=pa.int64())
        return TypedPage(
            {name: arr.take(picked) for name, arr in self.columns.items()},
            [self.keys[i] for i in indices],
            self.api,
        )


class Row(Mapping[str, Any]):
    """One item of a typed page, read by API field name; values are fetched when read.

    It holds the decoded fields only: a field the server sent but the page was
    not decoded for reads as absent, as a missing field does.
    """

    __slots__ = ("_at", "_page")

    def __init__(self, page: TypedPage, at: int):
        self._page, self._at = page, at

    def __getitem__(self, field: str) -> Any:
        column = self._page.api[field]
        return self._page.columns[column][self._at].as_py()

    def __iter__(self) -> Iterator[str]:
        return iter(self._page.api)

    def __len__(self) -> int:
        return len(self._page.api)

    def __repr__(self) -> str:
        return f"Row({dict(self)!r})"


class PageDecoder:
    """Decode ``{"ok": true, "items": [...]}`` bytes into a ``TypedPage``, or None.

    Args:
        fields: ``{column: (api_key, kind)}``; kinds are ``string``, ``bool``,
            ``int`` and ``float``, as in ``schemas``.
        key: the API field that identifies an item, one of ``fields`` as a
            string. It must be a string in every item for a page to take the
            typed path.

    Calling the decoder returns the envelope ``{"ok": True, "items": TypedPage}``,
    the shape a transport returns for a page, or None for the plain path.

    >>> decode = PageDecoder({"id": ("id", "string"), "done": ("completed", "bool")}, key="id")
    >>> page = decode(b'{"ok":true,"items":[{"id":"a","completed":true,"extra":[1]}]}')["items"]
    >>> page.keys, page.columns["done"].to_pylist()
    (['a'], [True])
    >>> decode(b'{"ok":true,"items":[{"id":"a","completed":1}]}') is None
    True
    """

    def __init__(self, fields: Mapping[str, tuple[str, str]], key: str = "id"):
        import msgspec
        import pyarrow as pa

        from .schemas import arrow_type

        unknown = sorted({kind for _, kind in fields.values()} - set(_PY_TYPES))
        if unknown:
            raise ValueError(f"no typed decoding for kinds {unknown}")
        if (key, "string") not in fields.values():
            raise ValueError(f"the key {key!r} must be one of the fields, as a string")
        self.fields = dict(fields)
        self.key = key
        api_keys = list(dict.fromkeys([key, *(api for api, _ in self.fields.values())]))
        kinds = {api: kind for api, kind in self.fields.values()}
        # Struct attributes f0, f1, ... renamed to the API keys, which need not be
        # identifiers. The key is required and a string; every other field may be
        # missing or null, both of which the plain path reads as null.
        specs: list[Any] = [("f0", str)]
        specs += [
            (f"f{i}", _PY_TYPES[kinds[api]] | None, None) for i, api in enumerate(api_keys) if i
        ]
        row: Any = msgspec.defstruct(
            "Row", specs, rename={f"f{i}": api for i, api in enumerate(api_keys)}, gc=False
        )
        page = msgspec.defstruct("Page", [("ok", bool), ("items", list[row])], gc=False)
        self._decoder: Any = msgspec.json.Decoder(page)
        attr = {api: f"f{i}" for i, api in enumerate(api_keys)}
        self._getters = {column: attrgetter(attr[api]) for column, (api, _) in fields.items()}
        self._api = {api: column for column, (api, _) in fields.items()}
        # The key's column is built from the keys list the pager needs anyway.
        self._key_column = next(c for c, field in fields.items() if field == (key, "string"))
        self._arrow_types = {column: arrow_type(kind) for column, (_, kind) in fields.items()}
        self._failures: tuple[type[BaseException], ...] = (
            msgspec.MsgspecError,  # not JSON, or JSON of another shape
            RecursionError,  # nested deeper than msgspec follows
            pa.ArrowInvalid,  # an integer beyond int64
            pa.ArrowTypeError,
            OverflowError,
            # Invalid UTF-8 (msgspec before 0.19 raises UnicodeDecodeError for it), or a
            # lone surrogate Arrow cannot hold: the plain path replaces and counts both.
            UnicodeError,
        )

    def __repr__(self) -> str:
        return f"PageDecoder(fields={list(self.fields)}, key={self.key!r})"

    def __call__(self, content: bytes) -> dict[str, Any] | None:
        try:
            decoded = self._decoder.decode(content)
            if decoded.ok is not True:
                return None  # an error envelope: the plain path raises the typed error
            return {"ok": True, "items": self._page(decoded.items)}
        except self._failures:
            return None

    def _page(self, rows: list[Any]) -> TypedPage:
        import pyarrow as pa

        keys = [r.f0 for r in rows]
        columns = {
            column: pa.array(
                keys if column == self._key_column else list(map(getter, rows)),
                type=self._arrow_types[column],
            )
            for column, getter in self._getters.items()
        }
        return TypedPage(columns, keys, self._api)


def concat_columns(pages: list[dict[str, Any]], kinds: Mapping[str, str]) -> dict[str, Any]:
    """Join per-page Arrow columns into one array per column (empty arrays for no pages).

    Empties ``pages`` as it goes, one column at a time, so that only one column
    is ever held twice (its chunks and the joined array): at a million tasks the
    chunks are a third of the frame.
    """
    import pyarrow as pa

    from .schemas import arrow_type

    out = {}
    for name, kind in kinds.items():
        typ = arrow_type(kind)
        parts = [page.pop(name) for page in pages]
        out[name] = (
            pa.chunked_array(parts, type=typ).combine_chunks() if parts else pa.array([], type=typ)
        )
        del parts
    pages.clear()
    return out

"""Reading ahead: the next page's request leaves before this page is decoded.

A cursor listing cannot ask for page N+1 before page N names its cursor, so a
plain loop keeps the server idle while the client decodes a page, and the
client idle while the server builds the next. The id that the next request
pages after sits at the end of the raw page: ``last_ids`` reads it from the
bytes in microseconds (decoding the page takes a third of a millisecond per
1,000 tasks), so that request can be sent at once and its answer read after
this page is decoded (``Transport.post_early``).

What is read here is only a guess. The pager uses an answer read ahead only
when the request it builds after all its checks is exactly the one that was
sent; otherwise it drops it and sends its own (``paging``).
"""

from __future__ import annotations

import json
import re
from functools import lru_cache

__all__ = ["last_ids"]

# How far back from the end of a page to look for the last ids, at most.
_MAX_TAIL = 1 << 20


@lru_cache(maxsize=16)
def _pair(key: str) -> re.Pattern[bytes]:
    """``"key": "value"`` with the value as raw JSON string text (escapes kept)."""
    name = re.escape(json.dumps(key).encode("utf-8"))
    return re.compile(name + rb'\s*:\s*"((?:[^"\\]|\\.)*)"')


def last_ids(content: bytes, key: str, count: int = 2) -> list[str] | None:
    """The last ``count`` string values of ``"key"`` in ``content``, in page order, or None.

    A search of the page's tail, widened until it finds them: no parsing. A
    value inside a nested object, or text that merely looks like the pair,
    is found as readily as an item's own id, which is why a caller must treat
    the answer as a guess. Bytes that do not end like a JSON object were
    likely cut short, and give None: nothing should be sent on their word.

    >>> last_ids(b'{"ok":true,"items":[{"id":"a"},{"id":"b"},{"id":"c\\\\u00e9"}]}', "id")
    ['b', 'cé']
    """
    if not content.rstrip().endswith(b"}"):
        return None
    pattern, size, found = _pair(key), 2048, []
    while True:
        start = max(len(content) - size, 0)
        found = pattern.findall(content, start)
        if len(found) >= count or start == 0 or size >= _MAX_TAIL:
            break
        size *= 8
    if len(found) < count:
        return None
    try:
        return [_text(raw) for raw in found[-count:]]
    except ValueError:  # not UTF-8, or an escape JSON does not know
        return None


def _text(raw: bytes) -> str:
    if b"\\" not in raw:
        return raw.decode("utf-8")
    value = json.loads(b'"' + raw + b'"')
    if not isinstance(value, str):  # pragma: no cover - a JSON string is a str
        raise ValueError("not a string")
    return value

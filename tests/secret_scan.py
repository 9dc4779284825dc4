"""Find test secrets in what the tests wrote: a token, any piece of one longer
than 8 characters, or a credential a test put in a URL.

Parquet is compressed (zstd by default), so a token inside a data page is not
in the file's bytes as written: parquet files are searched through their
decoded values as well as their raw bytes, and gzip files once decompressed.
"""

from __future__ import annotations

import ast
import contextlib
import gzip
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

FRAGMENT = 9  # a piece this long of a secret is a leak
# A piece like "000000000" or "eeeeeeeee" (hypothesis tests register tokens like that)
# identifies no token and occurs in binary files by chance: such pieces are not searched.
_DISTINCT = 4
_MAX_BYTES = 256 * 1024 * 1024  # beyond this a file is searched in its first bytes only

# userinfo of a URL in a test's source: ``scheme://user:password@`` or ``scheme://token@``
_USERINFO = re.compile(r"://([^/@\s'\"{}\\#?]+)@")
_SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSWORD|PASSWD|ACCESS_KEY", re.IGNORECASE)


@dataclass(frozen=True)
class Secret:
    """One secret to look for; ``label`` names it in a finding, the value never shows."""

    value: bytes
    label: str


class Scanner:
    """Searches bytes for any of ``secrets`` or any FRAGMENT-long piece of one.

    Every FRAGMENT-long window of every secret gets a 64-bit key (its first 8
    bytes, mixed with the ninth); the keys of all windows of the data are
    computed with numpy and looked up in one sorted array, then each hit is
    confirmed byte for byte. The cost grows with the data, not with the
    number of secrets (hypothesis tests register hundreds).
    """

    def __init__(self, secrets: Iterable[Secret]):
        self.whole: list[Secret] = []  # too short to cut: only the whole secret counts
        windows: dict[bytes, str] = {}
        for secret in sorted(
            {s.value: s for s in secrets if s.value}.values(), key=lambda s: s.label, reverse=True
        ):
            if len(secret.value) < FRAGMENT:
                self.whole.append(secret)
            for i in range(len(secret.value) - FRAGMENT + 1):
                window = secret.value[i : i + FRAGMENT]
                if len(set(window)) >= _DISTINCT:
                    windows[window] = secret.label
        self.windows = windows
        self.keys = np.unique(_keys(b"".join(windows))[::FRAGMENT]) if windows else None

    def find(self, data: bytes) -> str | None:
        """The label of a secret ``data`` holds (whole or a long piece), or None."""
        for secret in self.whole:
            if secret.value in data:
                return secret.label
        if self.keys is None or len(data) < FRAGMENT:
            return None
        for block in range(0, len(data) - FRAGMENT + 1, _BLOCK):
            part = data[block : block + _BLOCK + FRAGMENT - 1]
            keys = _keys(part)
            at = np.searchsorted(self.keys, keys).clip(max=len(self.keys) - 1)
            for i in np.flatnonzero(self.keys[at] == keys):
                label = self.windows.get(part[i : i + FRAGMENT])
                if label:
                    return label
        return None


_BLOCK = 8 * 1024 * 1024  # data is searched in blocks of this many windows, to bound memory


def _keys(data: bytes) -> np.ndarray:
    """A 64-bit key for every FRAGMENT-long window of ``data`` (equal windows, equal keys)."""
    n = len(data) - FRAGMENT + 1
    head = np.empty(n, dtype=np.uint64)
    for r in range(8):  # the 8-byte words starting at r, r+8, r+16...
        count = (len(data) - r) // 8
        words = np.frombuffer(data, dtype=">u8", offset=r, count=count).astype(np.uint64)
        head[r::8] = words[: len(range(r, n, 8))]
    tail = np.frombuffer(data, dtype=np.uint8, offset=8, count=n).astype(np.uint64)
    return head ^ (tail * np.uint64(0x9E3779B97F4A7C15))


def texts_of(path: Path) -> Iterator[bytes]:
    """Every readable form of a file: its bytes, then what they decode to."""
    with open(path, "rb") as f:
        yield from forms_of(f.read(_MAX_BYTES))


def forms_of(raw: bytes) -> Iterator[bytes]:
    """Every readable form of some bytes (a file, an object in a bucket): the bytes,
    then what they decode to (gzip, parquet values and metadata)."""
    yield raw
    if raw[:2] == b"\x1f\x8b":
        with contextlib.suppress(OSError, EOFError):  # a torn gzip: its bytes were searched
            unzipped = gzip.decompress(raw)
            yield unzipped
    if raw[:4] == b"PAR1":
        yield from _parquet_values(raw)


def _parquet_values(raw: bytes) -> Iterator[bytes]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.ParquetFile(pa.BufferReader(raw)).read(use_threads=False)
    except Exception:  # a file the tests damaged on purpose: its raw bytes were searched
        return
    meta = table.schema.metadata or {}
    yield b"\n".join(k + b"=" + v for k, v in meta.items())
    for column in table.columns:
        kind = column.type
        if pa.types.is_dictionary(kind):
            kind = kind.value_type
        if (
            pa.types.is_integer(kind)
            or pa.types.is_floating(kind)
            or pa.types.is_boolean(kind)
            or pa.types.is_temporal(kind)
            or pa.types.is_null(kind)
        ):
            continue  # no room for a token
        yield "\n".join(_strings(column.to_pylist())).encode("utf-8", "surrogatepass")


def _strings(values: object) -> Iterator[str]:
    """Every string (or bytes, as latin-1) inside nested lists, dicts and scalars."""
    stack = [values]
    while stack:
        value = stack.pop()
        if isinstance(value, str):
            yield value
        elif isinstance(value, bytes):
            yield value.decode("latin-1")
        elif isinstance(value, dict):
            stack.extend(value.keys())
            stack.extend(value.values())
        elif isinstance(value, (list, tuple)):
            stack.extend(value)


def scan_tree(roots: Iterable[Path], scanner: Scanner) -> list[tuple[Path, str]]:
    """(file, secret label) for every file under ``roots`` that holds a secret."""
    found = []
    for root in roots:
        if not root.exists():
            continue
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for path in files:
            if path.is_symlink():
                continue
            try:
                # NUL never occurs in a secret, so no match straddles two forms
                label = scanner.find(b"\0".join(texts_of(path)))
            except OSError:  # a file removed or unreadable meanwhile: nothing to leak
                continue
            if label:
                found.append((path, label))
    return found


def secrets_in_sources(tests_dir: Path) -> list[Secret]:
    """Secrets the test sources spell out: module constants named like a token,
    secret, password or access key, and the credentials of URLs in string literals."""
    out = []
    for source in sorted(tests_dir.rglob("*.py")):
        tree = ast.parse(source.read_text(encoding="utf-8"))
        for node in tree.body:
            if isinstance(node, ast.Assign) and len(node.targets) == 1:
                target = node.targets[0]
                value = _literal(node.value)
                if (
                    isinstance(target, ast.Name)
                    and _SECRET_NAME.search(target.id)
                    and value
                    and len(value) >= FRAGMENT
                ):
                    out.append(Secret(value.encode(), f"{source.name}:{target.id}"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                for userinfo in _USERINFO.findall(node.value):
                    credential = userinfo.split(":", 1)[-1]
                    if len(credential) >= 6 and not re.fullmatch(r"[\d.]+", credential):
                        out.append(Secret(credential.encode(), f"{source.name}: a URL credential"))
    return out


def _literal(node: ast.expr) -> str | None:
    """The value of a string literal, or of literals joined with ``+``."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _literal(node.left), _literal(node.right)
        if left is not None and right is not None:
            return left + right
    return None

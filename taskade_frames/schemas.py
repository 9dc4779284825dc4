"""Column kinds and dtypes, and typed frames built from them.

The columns of each frame are declared once, in the entity table
(``taskade_frames.entities``). Loaders build frames from those declarations,
export derives its Arrow schemas from them, and read-back casts to them, so a
frame has the same columns and dtypes whether it came from the API, from
parquet, or is empty.
Strings are Arrow-backed with ``pd.NA``; booleans and integers are nullable;
times are tz-aware UTC.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa

__all__ = [
    "STRING",
    "Column",
    "arrow_schema",
    "arrow_type",
    "coerce",
    "column_dtypes",
    "columns",
    "dtypes",
    "empty_frame",
    "frame",
    "parse_columns",
]

Kind = Literal["string", "bool", "int", "float", "timestamp", "date"]
KINDS: tuple[str, ...] = ("string", "bool", "int", "float", "timestamp", "date")

STRING = pd.StringDtype("pyarrow")


class _Dtypes(dict):
    """Dtypes by kind; ``date`` (Arrow date32) is made on first use, so that
    ``import taskade_frames`` does not import pyarrow."""

    def __missing__(self, kind: str) -> Any:
        if kind != "date":
            raise KeyError(kind)
        import pyarrow as pa

        self[kind] = pd.ArrowDtype(pa.date32())
        return self[kind]


_PANDAS: dict[str, Any] = _Dtypes(
    {
        "string": STRING,
        "bool": pd.BooleanDtype(),
        "int": pd.Int64Dtype(),
        "float": pd.Float64Dtype(),
        "timestamp": pd.DatetimeTZDtype("us", "UTC"),
    }
)


@dataclass(frozen=True)
class Column:
    name: str
    kind: Kind


def parse_columns(spec: str) -> tuple[Column, ...]:
    """Parse ``"name:kind name:kind"`` into columns (keeps the entity table readable).

    >>> parse_columns("id:string done:bool")[1]
    Column(name='done', kind='bool')
    """
    out = []
    for part in spec.split():
        name, kind = part.split(":")
        if kind not in KINDS:
            raise ValueError(f"unknown column kind {kind!r} in {part!r}")
        out.append(Column(name, kind))  # type: ignore[arg-type]
    return tuple(out)


def column_dtypes(cols: Sequence[Column]) -> dict[str, Any]:
    """``{column: pandas dtype}`` of declared columns."""
    return {c.name: _PANDAS[c.kind] for c in cols}


def columns(entity: str) -> list[str]:
    """Column names of an entity, in order."""
    return [c.name for c in _entity(entity)]


def dtypes(entity: str) -> dict[str, Any]:
    """``{column: pandas dtype}`` of an entity."""
    return column_dtypes(_entity(entity))


def empty_frame(entity: str) -> pd.DataFrame:
    """A frame with no rows and the entity's columns and dtypes."""
    return pd.DataFrame({n: pd.Series([], dtype=d) for n, d in dtypes(entity).items()})


def frame(
    entity: str,
    data: Mapping[str, Sequence[Any] | np.ndarray | pd.Series],
    *,
    given_only: bool = False,
) -> pd.DataFrame:
    """Build a typed frame from columns; columns not given are all-NA (or left out).

    Building from columns (not a list of dicts) is what keeps a million-row
    load cheap in time and memory. ``given_only`` leaves out the columns not
    in ``data``, for a caller that adds them next.
    """
    n = None
    for values in data.values():
        n = len(values)
        break
    if n is None or n == 0:
        return empty_frame(entity)
    cols = {}
    for column in _entity(entity):
        given = data.get(column.name)
        if given is None and given_only:
            continue
        values = _nulls(column.kind, n) if given is None else given
        cols[column.name] = _series(values, _PANDAS[column.kind])
    return pd.DataFrame(cols, copy=False)


def coerce(df: pd.DataFrame, entity: str) -> pd.DataFrame:
    """Cast a frame to the entity's columns and dtypes (extra columns dropped)."""
    if len(df) == 0:
        return empty_frame(entity)
    wanted = dtypes(entity)
    if list(df.columns) == list(wanted) and all(
        df[name].dtype == dtype for name, dtype in wanted.items()
    ):
        return df  # already in shape: no copy of a million rows
    out = {}
    for column in _entity(entity):
        dtype = _PANDAS[column.kind]
        if column.name in df.columns:
            out[column.name] = _series(df[column.name], dtype)
        else:
            out[column.name] = _series(_nulls(column.kind, len(df)), dtype).set_axis(df.index)
    return pd.DataFrame(out, index=df.index)


def _nulls(kind: str, n: int) -> Any:
    import pyarrow as pa

    return pa.nulls(n, _arrow_types()[kind])


def arrow_type(kind: str) -> pa.DataType:
    """The Arrow type of a column kind (``string``, ``bool``, ``int``, ...)."""
    return _arrow_types()[kind]


def _series(values: Any, dtype: Any) -> pd.Series:
    import pyarrow as pa

    if isinstance(values, pd.Series):
        return values if values.dtype == dtype else values.astype(dtype)
    if isinstance(values, pa.Array | pa.ChunkedArray):
        return pd.Series(dtype.__from_arrow__(values), copy=False)
    if isinstance(dtype, pd.DatetimeTZDtype):
        if not isinstance(values, list | np.ndarray | pd.Index):
            values = values.to_pylist()  # all-null Arrow array
        return pd.Series(pd.to_datetime(values, utc=True)).astype(dtype)
    return pd.Series(_array(values, dtype))


def _array(values: Any, dtype: Any) -> Any:
    """A pandas array of ``dtype`` from a list, through Arrow when the values allow.

    Arrow converts a million Python strings or booleans several times faster
    than ``pd.array``; values Arrow refuses (an id sent as a number) take the
    slower pandas path, which converts them. Lone surrogates raise
    ``UnicodeEncodeError`` either way, for the caller to handle.
    """
    import pyarrow as pa

    if isinstance(values, pa.Array):
        return dtype.__from_arrow__(values)
    arrow_type = {
        pd.BooleanDtype(): pa.bool_(),
        pd.Int64Dtype(): pa.int64(),
        pd.Float64Dtype(): pa.float64(),
        STRING: pa.large_string(),
    }.get(dtype)
    if arrow_type is not None and isinstance(values, list):
        try:
            return dtype.__from_arrow__(pa.array(values, type=arrow_type))
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            pass
    return pd.array(values, dtype=dtype)


def arrow_schema(entity: str, metadata: Mapping[str, str] | None = None) -> pa.Schema:
    """The Arrow schema of an entity: explicit, so parquet files never depend on inference."""
    import pyarrow as pa

    types = _arrow_types()
    fields = [pa.field(c.name, types[c.kind], nullable=True) for c in _entity(entity)]
    return pa.schema(fields, metadata=dict(metadata) if metadata else None)


def _arrow_types() -> dict[str, pa.DataType]:
    import pyarrow as pa

    return {
        "string": pa.large_string(),
        "bool": pa.bool_(),
        "int": pa.int64(),
        "float": pa.float64(),
        "timestamp": pa.timestamp("us", tz="UTC"),
        "date": pa.date32(),
    }


def _entity(name: str) -> tuple[Column, ...]:
    # The table lives one module up (it names operations and API fields); it
    # imports this module, so the lookup is deferred to call time.
    from .entities import entity

    return entity(name).columns

"""pandas ↔ Polars at the compat boundary, and pycytominer's error types.

pycytominer's functions take and return pandas DataFrames; cytoplan's engine takes
LazyFrames. Only the columns an operation needs cross the boundary, so odd columns
(mixed-type objects, nested values) pass through untouched in pandas.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

import numpy as np
import pandas as pd
import polars as pl

from cytoplan.exceptions import ColumnNotFoundError, CytoplanError

__all__ = ["as_list", "pycytominer_errors", "to_lazy", "to_pandas_like"]

T = TypeVar("T")

_FLOAT_DTYPES = (np.dtype(np.float64), np.dtype(np.float32))
#: at least this many float columns of one dtype are converted as one array
_DENSE_MIN = 16


def as_list(value: str | Sequence[T]) -> list[Any]:
    """A string as a one-element list, any other sequence as a list."""
    if isinstance(value, str):
        return [value]
    return list(value)


def to_lazy(df: pd.DataFrame, columns: Iterable[str]) -> pl.LazyFrame:
    """The given columns of ``df`` (de-duplicated, in order) as a LazyFrame, index dropped.

    >>> import pandas as pd
    >>> to_lazy(pd.DataFrame({"a": [1], "b": ["x"]}), ["b"]).collect().columns
    ['b']
    """
    names = list(dict.fromkeys(columns))
    missing = [name for name in names if name not in df.columns]
    if missing:
        msg = f"{missing} not in index"
        raise KeyError(msg)
    sub = df.loc[:, names].reset_index(drop=True)
    blocks: dict[Any, list[str]] = {}
    for name in names:
        if sub[name].dtype in _FLOAT_DTYPES:
            blocks.setdefault(sub[name].dtype, []).append(name)
    dense = {dtype: cols for dtype, cols in blocks.items() if len(cols) >= _DENSE_MIN}
    if not dense:
        return pl.from_pandas(sub).lazy()
    # wide float blocks go through one NumPy array each (pl.from_pandas converts
    # column by column); NaN becomes null as from_pandas does
    taken = {name for cols in dense.values() for name in cols}
    parts = [pl.from_pandas(sub.loc[:, [n for n in names if n not in taken]])]
    for cols in dense.values():
        values = np.asfortranarray(sub.loc[:, cols].to_numpy())
        block = pl.from_numpy(values, schema=cols, orient="row")
        parts.append(block.with_columns(pl.all().fill_nan(None)))
    return pl.concat([p for p in parts if p.width], how="horizontal").select(names).lazy()


def to_pandas_like(frame: pl.DataFrame, like: pd.DataFrame | None = None) -> pd.DataFrame:
    """A Polars frame as pandas; columns also in ``like`` get ``like``'s dtype back.

    >>> import pandas as pd, polars as pl
    >>> out = to_pandas_like(pl.DataFrame({"a": [1.0]}), pd.DataFrame({"a": [1]}))
    >>> str(out["a"].dtype)
    'int64'
    """
    out = frame.to_pandas()
    if like is None:
        return out
    for name in out.columns:
        if name not in like.columns:
            continue
        target = like[name].dtype
        if out[name].dtype == target:
            continue
        try:
            out[name] = out[name].astype(target)
        except (TypeError, ValueError):
            continue
    return out


@contextmanager
def pycytominer_errors() -> Iterator[None]:
    """Raise cytoplan's errors as the built-in types pycytominer raises.

    A missing column becomes ``KeyError`` (pandas' indexing error); any other cytoplan
    error becomes ``ValueError``. The original error is chained.

    >>> from cytoplan.exceptions import StatisticsError
    >>> try:
    ...     with pycytominer_errors():
    ...         raise StatisticsError("bad")
    ... except ValueError as exc:
    ...     print(exc)
    bad
    """
    try:
        yield
    except ColumnNotFoundError as exc:
        raise KeyError(str(exc)) from exc
    except CytoplanError as exc:
        raise ValueError(str(exc)) from exc


def call(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``function(*args, **kwargs)`` with cytoplan errors translated."""
    with pycytominer_errors():
        return function(*args, **kwargs)


def pandas_schema(df: pd.DataFrame) -> pl.Schema:
    """A Polars schema standing for ``df``'s columns, without converting any data.

    Numeric columns map to Float64/Int64, booleans to Boolean, object columns holding
    any non-scalar value (lists, dicts, arrays) to a nested type, everything else to
    String — enough for the column-role rules of :mod:`cytoplan.schema`.

    >>> import pandas as pd
    >>> pandas_schema(pd.DataFrame({"a": [1.0], "b": ["x"], "c": [[1]]}))
    Schema([('a', Float64), ('b', String), ('c', List(Null))])
    """
    types: dict[str, pl.DataType] = {}
    for name in df.columns:
        column = df[name]
        dtype: pl.DataType
        if pd.api.types.is_bool_dtype(column):
            dtype = pl.Boolean()
        elif pd.api.types.is_integer_dtype(column):
            dtype = pl.Int64()
        elif pd.api.types.is_numeric_dtype(column):
            dtype = pl.Float64()
        elif column.dtype == "object" and any(
            not pd.api.types.is_scalar(value) for value in column.dropna()
        ):
            dtype = pl.List(pl.Null())
        else:
            dtype = pl.String()
        types[str(name)] = dtype
    return pl.Schema(types)

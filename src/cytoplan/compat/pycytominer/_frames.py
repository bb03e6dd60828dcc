"""pandas ↔ Polars at the compat boundary, and pycytominer's error types.

pycytominer's functions take and return pandas DataFrames; cytoplan's engine takes
LazyFrames. Only the columns an operation needs cross the boundary, so odd columns
(mixed-type objects, nested values) pass through untouched in pandas.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

import numpy as np
import pandas as pd
import polars as pl

from cytoplan.exceptions import ColumnNotFoundError, CytoplanError

__all__ = ["as_list", "converted_once", "pycytominer_errors", "to_lazy", "to_pandas_like"]

T = TypeVar("T")

_FLOAT_DTYPES = (np.dtype(np.float64), np.dtype(np.float32))
#: at least this many float columns of one dtype are converted as one array
_DENSE_MIN = 16
#: a pandas frame and its columns already converted (set by :func:`converted_once`)
_CONVERTED: ContextVar[tuple[pd.DataFrame, pl.DataFrame] | None] = ContextVar(
    "cytoplan_compat_converted", default=None
)


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
    cached = _CONVERTED.get()
    if cached is not None and cached[0] is df and set(names) <= set(cached[1].columns):
        return cached[1].lazy().select(names)
    missing = [name for name in names if name not in df.columns]
    if missing:
        msg = f"{missing} not in index"
        raise KeyError(msg)
    repeated = sorted({str(n) for n in df.columns[df.columns.duplicated()] if n in names})
    if repeated:  # e.g. a platemap with both "x" and "Metadata_x", once prefixed
        msg = (
            f"column name(s) {', '.join(map(repr, repeated))} appear more than once; "
            "cytoplan needs distinct names: rename or drop the copies"
        )
        raise ValueError(msg)
    return _convert(df, names).lazy()


def _convert(df: pd.DataFrame, names: list[str]) -> pl.DataFrame:
    """``df[names]`` (present, unique names) as a Polars frame; NaN in floats becomes null."""
    sub = df.loc[:, names].reset_index(drop=True)
    blocks: dict[Any, list[str]] = {}
    for name, dtype in zip(names, sub.dtypes, strict=True):
        if dtype in _FLOAT_DTYPES:
            blocks.setdefault(dtype, []).append(name)
    dense = {dtype: cols for dtype, cols in blocks.items() if len(cols) >= _DENSE_MIN}
    if not dense:
        return _from_pandas(sub)
    # wide float blocks go through one (column-major) NumPy array each, a Series per
    # column (pl.from_pandas converts column by column, much slower); NaN becomes null
    # as from_pandas does
    taken = {name for cols in dense.values() for name in cols}
    parts = [_from_pandas(sub.loc[:, [n for n in names if n not in taken]])]
    for cols in dense.values():
        values = np.asfortranarray(sub.loc[:, cols].to_numpy())
        series = [pl.Series(name, values[:, j], nan_to_null=True) for j, name in enumerate(cols)]
        parts.append(pl.DataFrame(series))
    return pl.concat([p for p in parts if p.width], how="horizontal").select(names)


def _from_pandas(sub: pd.DataFrame) -> pl.DataFrame:
    """``pl.from_pandas``, with object columns of mixed scalar types (``[1, "unknown"]``,
    which Arrow cannot type) read as their text, as pandas prints them."""
    import pyarrow as pa

    try:
        return pl.from_pandas(sub)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        mixed = {}
        for name in sub.columns:
            if sub[name].dtype == object:
                try:
                    pl.from_pandas(sub[[name]])
                except (pa.ArrowInvalid, pa.ArrowTypeError):
                    mixed[name] = sub[name].map(_as_text)
        return pl.from_pandas(sub.assign(**mixed))


def _as_text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and value != value):
        return None
    return str(value)


@contextmanager
def converted_once(df: pd.DataFrame, columns: Iterable[str]) -> Iterator[None]:
    """Convert ``columns`` of ``df`` to Polars once for every :func:`to_lazy` call inside.

    A function that runs several engine fits on the same pandas frame (``feature_select``
    runs one per operation) pays for one conversion; :func:`to_lazy` of that same frame
    object and a subset of these columns selects from the converted frame. Names not in
    ``df`` are ignored here (``to_lazy`` still raises for them). ``df`` must not be
    modified inside the block.
    """
    present = set(df.columns)
    names = [name for name in dict.fromkeys(columns) if name in present]
    token = _CONVERTED.set((df, _convert(df, names)) if names else None)
    try:
        yield
    finally:
        _CONVERTED.reset(token)


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
        if pd.api.types.is_bool_dtype(target) and out[name].isna().any():
            # pandas: a boolean column with missing values (an unmatched join) is
            # object with NaN; astype(bool) would read them as False
            column = out[name].astype(object)
            out[name] = column.where(column.notna(), float("nan"))
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


def _scalar_type(kind: Any) -> pl.DataType | None:
    """The Polars type standing for a pandas dtype; None for ``object`` (look at values)."""
    if pd.api.types.is_bool_dtype(kind):
        return pl.Boolean()
    if pd.api.types.is_integer_dtype(kind):
        return pl.Int64()
    if pd.api.types.is_numeric_dtype(kind):
        return pl.Float64()
    if kind == "object":
        return None
    return pl.String()


def pandas_schema(df: pd.DataFrame, inspect: Callable[[str], bool] | None = None) -> pl.Schema:
    """A Polars schema standing for ``df``'s columns, without converting any data.

    Numeric columns map to Float64/Int64, booleans to Boolean, object columns holding
    any non-scalar value (lists, dicts, arrays) to a nested type, everything else to
    String — enough for the column-role rules of :mod:`cytoplan.schema`. With
    ``inspect``, only the columns it accepts are looked at; the others are String.

    >>> import pandas as pd
    >>> pandas_schema(pd.DataFrame({"a": [1.0], "b": ["x"], "c": [[1]]}))
    Schema([('a', Float64), ('b', String), ('c', List(Null))])
    """
    types: dict[str, pl.DataType] = {}
    # one decision per distinct dtype (wide frames repeat one or two dtypes)
    decided: dict[Any, pl.DataType | None] = {}
    for index, (name, kind) in enumerate(df.dtypes.items()):
        if inspect is not None and not inspect(str(name)):
            types[str(name)] = pl.String()
            continue
        if kind not in decided:
            decided[kind] = _scalar_type(kind)
        dtype = decided[kind]
        if dtype is None:  # object: nested if any value is not a scalar
            values = df.iloc[:, index].dropna()
            nested = any(not pd.api.types.is_scalar(value) for value in values)
            dtype = pl.List(pl.Null()) if nested else pl.String()
        types[str(name)] = dtype
    return pl.Schema(types)

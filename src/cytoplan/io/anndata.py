"""AnnData (``.h5ad``, ``.zarr``) as a profile source and sink (optional extra ``anndata``).

Mapping: feature columns → ``X`` (float64, cells/wells × features) with the feature
names as ``var`` names; every other column (``Metadata_*`` and any other
non-feature column) → ``obs``, in table order, text columns stored as categoricals;
``obs_names`` are the row numbers ``"0".."n-1"`` unless given. Reading gives the
``obs`` columns, then the ``X`` columns, as one Polars frame.

Examples
--------
>>> import tempfile, pathlib, polars as pl
>>> path = pathlib.Path(tempfile.mkdtemp()) / "wells.h5ad"
>>> frame = pl.DataFrame({"Metadata_Well": ["A01", "B01"], "Cells_x": [1.0, 2.0]})
>>> _ = write_anndata(frame, path)
>>> read_anndata(path).rows()
[('A01', 1.0), ('B01', 2.0)]
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

import polars as pl

from cytoplan.exceptions import SourceError
from cytoplan.io._atomic import atomic_path

__all__ = ["AnnDataFormat", "anndata_format", "read_anndata", "scan_anndata", "write_anndata"]

AnnDataFormat = Literal["h5ad", "zarr"]


def _require_anndata() -> Any:
    try:
        import anndata
    except ImportError:
        msg = (
            "reading or writing AnnData needs the optional dependency 'anndata'; "
            "install it with: pip install 'cytoplan[anndata]'"
        )
        raise SourceError(msg) from None
    return anndata


def anndata_format(path: str | Path) -> AnnDataFormat:
    """``"h5ad"`` or ``"zarr"`` from the file name.

    >>> anndata_format("x.h5ad"), anndata_format("x.zarr")
    ('h5ad', 'zarr')
    """
    suffix = Path(path).suffix.lower()
    if suffix == ".h5ad":
        return "h5ad"
    if suffix in (".zarr", ".zip"):
        return "zarr"
    msg = f"cannot tell the AnnData format of {str(path)!r}: name it *.h5ad or *.zarr"
    raise SourceError(msg)


def write_anndata(
    frame: pl.DataFrame | pl.LazyFrame,
    path: str | Path,
    *,
    features: Sequence[str] | None = None,
    obs_columns: Sequence[str] | None = None,
    obs_names: Sequence[str] | None = None,
    format: AnnDataFormat | None = None,
) -> Path:
    """Write a profile table as AnnData, atomically (temporary name, then rename).

    Parameters
    ----------
    frame
        Profiles (collected if lazy: AnnData is an in-memory format).
    path
        Destination (``.h5ad`` file or ``.zarr`` folder).
    features
        Columns for ``X``; default: numeric columns not starting with ``Metadata_``.
    obs_columns
        Columns for ``obs``; default: every other column, in table order.
    obs_names
        Row names; default ``"0".."n-1"``.
    format
        ``"h5ad"`` or ``"zarr"``; default from the suffix.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    anndata = _require_anndata()
    import numpy as np
    import pandas as pd

    df = frame.collect() if isinstance(frame, pl.LazyFrame) else frame
    kind = format or anndata_format(path)
    if features is None:
        features = [
            n for n, t in df.schema.items() if t.is_numeric() and not n.startswith("Metadata_")
        ]
    features = list(features)
    if obs_columns is None:
        obs_columns = [n for n in df.columns if n not in set(features)]
    obs_pd = df.select(list(obs_columns)).to_pandas()
    for name in obs_pd.columns:
        column = obs_pd[name]
        if pd.api.types.is_string_dtype(column.dtype) or column.dtype == object:
            obs_pd[name] = pd.Categorical(column.astype("object"))
    names = [str(i) for i in range(df.height)] if obs_names is None else list(obs_names)
    obs_pd.index = pd.Index(names, dtype=object)
    x = df.select(features).to_numpy().astype(np.float64) if features else None
    var = pd.DataFrame(index=pd.Index(features, dtype=object))
    adata = anndata.AnnData(X=x, obs=obs_pd, var=var)
    target = Path(path)
    if kind == "h5ad":
        with atomic_path(target) as tmp:
            adata.write_h5ad(tmp.with_suffix(".h5ad"))
            tmp.with_suffix(".h5ad").rename(tmp)
    else:
        tmp = target.with_name(f".{target.name}.tmp")
        if tmp.exists():
            shutil.rmtree(tmp)
        try:
            adata.write_zarr(str(tmp))
            if target.exists():
                shutil.rmtree(target)
            tmp.rename(target)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp)
    return target


def read_anndata(source: str | Path | Any) -> pl.DataFrame:
    """An AnnData file or object as one table: ``obs`` columns, then ``X`` columns.

    Categoricals become text; ``X`` becomes float64 columns named after ``var``.

    Raises
    ------
    SourceError
        The path does not exist or is not AnnData.
    """
    anndata = _require_anndata()
    import numpy as np

    if isinstance(source, anndata.AnnData):
        adata = source
    else:
        path = Path(source)
        if not path.exists():
            msg = f"AnnData source not found: {str(path)!r}"
            raise SourceError(msg)
        try:
            if anndata_format(path) == "h5ad":
                adata = anndata.read_h5ad(path)
            else:
                adata = anndata.read_zarr(str(path))
        except (OSError, KeyError, ValueError) as exc:
            msg = f"{str(path)!r} is not a readable AnnData store: {exc}"
            raise SourceError(msg) from exc
    obs = adata.obs.copy()
    for name in obs.columns:
        if str(obs[name].dtype) == "category":
            obs[name] = obs[name].astype(object).where(obs[name].notna(), None)
    obs_pl = pl.from_pandas(obs.reset_index(drop=True)) if obs.shape[1] else pl.DataFrame()
    x = adata.X
    if x is None:
        return obs_pl
    if hasattr(x, "toarray"):
        x = x.toarray()
    values = np.asarray(x, dtype=np.float64)
    var_names = [str(v) for v in adata.var_names]
    features = pl.DataFrame(values, schema=dict.fromkeys(var_names, pl.Float64), orient="row")
    return pl.concat([obs_pl, features], how="horizontal") if obs.shape[1] else features


def _obs_frame(obs: Any) -> pl.DataFrame:
    frame = obs.copy()
    for name in frame.columns:
        if str(frame[name].dtype) == "category":
            frame[name] = frame[name].astype(object).where(frame[name].notna(), None)
    return pl.from_pandas(frame.reset_index(drop=True)) if frame.shape[1] else pl.DataFrame()


class _Store:
    """Open an AnnData store's groups for reading (h5py file or zarr group)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.kind = anndata_format(path)

    def open(self) -> Any:
        if self.kind == "h5ad":
            import h5py

            return h5py.File(self.path, "r")
        import zarr

        return _ZarrContext(zarr.open_group(str(self.path), mode="r"))


class _ZarrContext:
    def __init__(self, group: Any) -> None:
        self.group = group

    def __enter__(self) -> Any:
        return self.group

    def __exit__(self, *exc: object) -> None:
        return None


class _AnnDataScan:
    def __init__(self, store: _Store, schema: dict[str, pl.DataType], rows: int, step: int) -> None:
        self.store = store
        self.schema = schema
        self.rows = rows
        self.step = step

    def __call__(
        self,
        with_columns: list[str] | None,
        predicate: pl.Expr | None,
        n_rows: int | None,
        batch_size: int | None,
    ) -> Iterator[pl.DataFrame]:
        import numpy as np
        from anndata.io import read_elem

        names = list(with_columns) if with_columns is not None else list(self.schema)
        wanted = list(names)
        if predicate is not None:
            wanted += [n for n in predicate.meta.root_names() if n not in wanted]
        produced = 0
        with self.store.open() as root:
            obs = _obs_frame(read_elem(root["obs"]))
            var_names = [str(v) for v in read_elem(root["var"]).index]
            position = {name: i for i, name in enumerate(var_names)}
            features = [n for n in wanted if n in position]
            index = np.array([position[n] for n in features], dtype=np.int64)
            x = root["X"]
            for start in range(0, self.rows, self.step):
                stop = min(start + self.step, self.rows)
                block = np.asarray(x[start:stop], dtype=np.float64)[:, index]
                part = pl.from_numpy(block, schema=features, orient="row") if features else None
                meta = obs.slice(start, stop - start).select(
                    [n for n in wanted if n in obs.columns]
                )
                frame = meta.hstack(part) if part is not None else meta
                if predicate is not None:
                    frame = frame.filter(predicate)
                frame = frame.select(names)
                if n_rows is not None:
                    frame = frame.head(n_rows - produced)
                produced += frame.height
                yield frame
                if n_rows is not None and produced >= n_rows:
                    return


def scan_anndata(path: str | Path, *, batch_rows: int = 65_536) -> pl.LazyFrame:
    """A dense-``X`` AnnData store as a lazy table, ``X`` read ``batch_rows`` rows at a time.

    Columns as :func:`read_anndata` (``obs``, then ``X``); only the ``X`` columns
    asked for are kept from each row slice, so memory holds one slice plus ``obs``.
    Sparse ``X`` is read whole (use :func:`read_anndata`).

    Raises
    ------
    SourceError
        Missing path, unknown format, or a sparse ``X``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "w.h5ad"
    >>> _ = write_anndata(pl.DataFrame({"Metadata_Well": ["A", "B"], "Cells_x": [1.0, 2.0]}), path)
    >>> scan_anndata(path, batch_rows=1).filter(pl.col("Cells_x") > 1).collect().rows()
    [('B', 2.0)]
    """
    _require_anndata()
    from anndata.io import read_elem

    target = Path(path)
    if not target.exists():
        msg = f"AnnData source not found: {str(target)!r}"
        raise SourceError(msg)
    store = _Store(target)
    with store.open() as root:
        x = root["X"]
        if not hasattr(x, "shape") or len(x.shape) != 2:
            msg = f"{str(target)!r} has a sparse X; read it with read_anndata"
            raise SourceError(msg)
        rows = int(x.shape[0])
        obs = _obs_frame(read_elem(root["obs"]))
        var_names = [str(v) for v in read_elem(root["var"]).index]
    schema: dict[str, pl.DataType] = dict(obs.schema)
    schema.update(dict.fromkeys(var_names, pl.Float64()))
    from polars.io.plugins import register_io_source

    return register_io_source(
        _AnnDataScan(store, schema, rows, max(1, int(batch_rows))),
        schema=schema,
        validate_schema=False,
        is_pure=True,
    )

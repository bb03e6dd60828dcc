"""The public functions: they accept frames or paths and join ``io`` with ``ops``.

``ops`` functions take and return LazyFrames and never see a path; the functions
here also accept paths for inputs and for small side tables (platemaps, external
metadata), resolving them through :mod:`cytoplan.io`.

Examples
--------
>>> import polars as pl
>>> wells = pl.LazyFrame({"Metadata_Plate": ["P1", "P1"], "Metadata_Well": ["A01", "A02"],
...                       "Cells_Area": [1.0, 3.0]})
>>> describe(wells).rows
2
"""

from __future__ import annotations

import functools
import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Concatenate, Literal, ParamSpec, TypeVar, cast

import polars as pl

from cytoplan.exceptions import SchemaError, SourceError, type_name
from cytoplan.ops import aggregate as _aggregate
from cytoplan.ops import annotate as _annotate
from cytoplan.ops import consensus as _consensus
from cytoplan.ops import feature_select as _feature_select
from cytoplan.ops import normalize as _normalize
from cytoplan.schema import CANONICAL_COMPARTMENTS, metadata_columns, schema_of

if TYPE_CHECKING:
    from cytoplan._typing import StorageOptions

__all__ = [
    "TableSummary",
    "aggregate",
    "annotate",
    "consensus",
    "describe",
    "feature_select",
    "normalize",
    "scan",
]

P = ParamSpec("P")
R = TypeVar("R")

_SQLITE_SUFFIXES = (".sqlite", ".sqlite3", ".db")

Source = str | Path | pl.LazyFrame | pl.DataFrame


def _is_csv_plate_folder(path: Path) -> bool:
    return path.is_dir() and any(path.glob("*/Image.csv"))


def scan(source: Source, *, storage_options: StorageOptions | None = None) -> pl.LazyFrame:
    """Any supported input as a LazyFrame: a frame, a CellProfiler SQLite file, a folder
    of CellProfiler CSV folders, or a Parquet/CSV/TSV profile table (local or remote)."""
    if isinstance(source, pl.LazyFrame):
        return source
    if isinstance(source, pl.DataFrame):
        return source.lazy()
    _require_path(source)
    text = str(source)
    if text.lower().endswith(_SQLITE_SUFFIXES):
        from cytoplan.io.sqlite import scan_cellprofiler_sqlite

        return scan_cellprofiler_sqlite(text, storage_options=storage_options)
    if "://" not in text and _is_csv_plate_folder(Path(text)):
        from cytoplan.io.csv_folder import scan_cellprofiler_csv

        return scan_cellprofiler_csv(text, storage_options=storage_options)
    from cytoplan.io.profiles import scan_profiles

    return scan_profiles(source, storage_options=storage_options)


def _require_path(source: object) -> None:
    """A table that is neither a Polars frame nor a path is refused with what to do
    (a pandas frame would otherwise be taken for a file name)."""
    items = source if isinstance(source, list | tuple) else [source]
    if items and all(isinstance(item, str | os.PathLike) for item in items):
        return
    kind = type_name(source)
    msg = f"expected a polars DataFrame or LazyFrame, or a path or URL; got a {kind}"
    if kind.startswith("pandas."):
        msg += (
            ": pass polars.from_pandas(frame), or use cytoplan.compat.pycytominer, "
            "which takes and returns pandas frames"
        )
    raise TypeError(msg)


@dataclass(frozen=True)
class TableSummary:
    """What ``cytoplan inspect`` prints: size, column roles and plates of a table."""

    source: str
    rows: int
    columns: int
    metadata: list[str]
    features_by_compartment: dict[str, int]
    other: list[str]
    plates: list[str] = field(default_factory=list)
    wells: int | None = None
    dtypes: dict[str, str] = field(default_factory=dict)

    def render(self, *, columns: bool = False) -> str:
        """A human-readable report."""
        n_features = sum(self.features_by_compartment.values())
        lines = [
            f"table     {self.source}",
            f"rows      {self.rows:,}",
            f"columns   {self.columns:,} ({len(self.metadata)} metadata, {n_features} features, "
            f"{len(self.other)} other)",
            "features  "
            + (", ".join(f"{k} {v:,}" for k, v in self.features_by_compartment.items()) or "none"),
        ]
        if self.plates:
            shown = ", ".join(self.plates[:10]) + (" ..." if len(self.plates) > 10 else "")
            lines.append(f"plates    {len(self.plates)}: {shown}")
        if self.wells is not None:
            lines.append(f"wells     {self.wells:,}")
        if columns:
            lines.append("")
            roles = {name: "metadata" for name in self.metadata}
            roles |= {name: "other" for name in self.other}
            for name, dtype in self.dtypes.items():
                lines.append(f"  {roles.get(name, 'feature'):<9} {dtype:<8} {name}")
        return "\n".join(lines)


def describe(source: Source, *, storage_options: StorageOptions | None = None) -> TableSummary:
    """Summarise a table: rows, column roles and plates (one small query)."""
    frame = scan(source, storage_options=storage_options)
    schema = schema_of(frame)
    meta = metadata_columns(schema)
    counts: dict[str, int] = {}
    feature_names: set[str] = set()
    for name, dtype in schema.items():
        if name.startswith("Metadata_") or not dtype.is_numeric():
            continue
        prefix = name.split("_", 1)[0]
        if prefix in CANONICAL_COMPARTMENTS or prefix == "Image" or "_" in name:
            counts[prefix] = counts.get(prefix, 0) + 1
            feature_names.add(name)
    other = [n for n in schema.names() if n not in feature_names and n not in meta]
    plate_column = next(
        (c for c in ("Metadata_Plate", "Image_Metadata_Plate") if c in schema), None
    )
    well_column = next((c for c in ("Metadata_Well", "Image_Metadata_Well") if c in schema), None)
    aggregates = [pl.len().alias("rows")]
    if plate_column:
        aggregates.append(pl.col(plate_column).unique().sort().implode().alias("plates"))
    if well_column:
        keys = [c for c in (plate_column, well_column) if c]
        aggregates.append(pl.struct(keys).n_unique().alias("wells"))
    result = frame.select(aggregates).collect(engine="streaming").row(0, named=True)
    return TableSummary(
        source=str(source) if isinstance(source, str | Path) else type(source).__name__,
        rows=int(result["rows"]),
        columns=len(schema),
        metadata=meta,
        features_by_compartment=dict(sorted(counts.items())),
        other=other,
        plates=[str(p) for p in result.get("plates") or [] if p is not None],
        wells=int(result["wells"]) if "wells" in result else None,
        dtypes={name: str(dtype) for name, dtype in schema.items()},
    )


def _accepting_paths(
    operation: Callable[Concatenate[pl.LazyFrame, P], R],
) -> Callable[Concatenate[Source, P], R]:
    """Let an ``ops`` function take a path or a frame as its first argument."""

    @functools.wraps(operation)
    def wrapper(profiles: Source, /, *args: P.args, **kwargs: P.kwargs) -> R:
        return operation(scan(profiles), *args, **kwargs)

    return wrapper


def _needs_staging(source: Source) -> bool:
    """A row-oriented file input: SQLite, CellProfiler CSV folders or a text table."""
    if isinstance(source, pl.LazyFrame | pl.DataFrame):
        return False
    _require_path(source)
    text = str(source)
    if text.lower().endswith(_SQLITE_SUFFIXES):
        return True
    if "://" not in text and _is_csv_plate_folder(Path(text)):
        return True
    from cytoplan.io.profiles import infer_format

    try:
        return infer_format(text) != "parquet"
    except SourceError:  # an unknown name: scan() reports it
        return False


def _staging_row_stores(
    operation: Callable[Concatenate[pl.LazyFrame, P], pl.LazyFrame],
) -> Callable[Concatenate[Source, P], pl.LazyFrame]:
    """Like :func:`_accepting_paths`, converting a row-oriented file to Parquet first.

    Column-block statistics read their input once per block, which is cheap on
    Parquet (a block reads only its columns) and ruinous on a row store. A SQLite
    file, CellProfiler CSV folders or a CSV/TSV table is therefore converted once
    (:func:`cytoplan.io.convert.convert`, streamed) into a temporary folder
    (``TMPDIR``), the result computed, and the copy deleted.
    """

    @functools.wraps(operation)
    def wrapper(profiles: Source, /, *args: P.args, **kwargs: P.kwargs) -> pl.LazyFrame:
        if not _needs_staging(profiles):
            return operation(scan(profiles), *args, **kwargs)
        from cytoplan.io.convert import convert

        memory_limit = cast("str | int | None", kwargs.get("memory_limit"))
        with tempfile.TemporaryDirectory(prefix="cytoplan-staging-") as folder:
            staged = Path(folder) / "single_cells.parquet"
            try:
                convert(str(profiles), staged, memory_limit=memory_limit, progress=False)
            except SchemaError as error:  # name the input, not the temporary copy
                msg = f"reading {str(profiles)!r}: {error}"
                raise SchemaError(msg) from error
            return operation(pl.scan_parquet(staged), *args, **kwargs).collect().lazy()

    return wrapper


aggregate = _staging_row_stores(_aggregate.aggregate)
normalize = _accepting_paths(_normalize.normalize)
feature_select = _accepting_paths(_feature_select.feature_select)
consensus = _accepting_paths(_consensus.consensus)


def annotate(
    profiles: Source,
    platemap: Source,
    *,
    join_on: str | Sequence[str] = ("Metadata_well_position", "Metadata_Well"),
    add_metadata_prefix: bool = True,
    external_metadata: Source | None = None,
    external_join_on: str | Sequence[str] | None = None,
    clean_cellprofiler: bool = True,
    format_broad_cmap: bool = False,
    cmap_args: Mapping[str, str] | None = None,
    unmatched: Literal["raise", "drop"] = "raise",
    duplicates: Literal["raise", "allow"] = "raise",
    order: Literal["platemap", "profiles"] = "platemap",
) -> pl.LazyFrame:
    """Join a platemap (and optional external metadata) onto profiles.

    ``profiles``, ``platemap`` and ``external_metadata`` may be frames or paths
    (platemaps are read with every column as text and the delimiter inferred).
    See :func:`cytoplan.ops.annotate.annotate` for the semantics.
    """
    plate_table = _platemap_frame(platemap)
    external = _platemap_frame(external_metadata) if external_metadata is not None else None
    return _annotate.annotate(
        scan(profiles),
        plate_table,
        join_on=join_on,
        add_metadata_prefix=add_metadata_prefix,
        external_metadata=external,
        external_join_on=external_join_on,
        clean_cellprofiler=clean_cellprofiler,
        format_broad_cmap=format_broad_cmap,
        cmap_args=cmap_args,
        unmatched=unmatched,
        duplicates=duplicates,
        order=order,
    )


def _platemap_frame(table: Source) -> pl.LazyFrame:
    """A side table: frames as they are; files read with every column as text."""
    if isinstance(table, pl.LazyFrame | pl.DataFrame):
        return scan(table)
    from cytoplan.io.profiles import read_text_table

    return read_text_table(table)

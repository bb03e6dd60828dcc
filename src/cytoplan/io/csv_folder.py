"""Scan CellProfiler ExportToSpreadsheet CSV folders as merged single cells (lazy).

A plate's CSV output is one folder per site (or per well, depending on the
pipeline's grouping)::

    root/<plate>-<well>-<site>/Image.csv, Cells.csv, Cytoplasm.csv, Nuclei.csv

Column names inside are not prefixed (``AreaShape_Area``). Each folder is
turned into what cytominer-database ingests into its SQLite backend, and then
merged exactly like :func:`~cytoplan.io.sqlite.scan_cellprofiler_sqlite`:

* compartment columns get the compartment prefix (``Cells_AreaShape_Area``),
  except ``ImageNumber`` and ``ObjectNumber``;
* image columns keep ``Metadata_*`` names and ``ImageNumber``; every other
  image column gets the ``Image_`` prefix (``Image_Count_Cells``);
* every row gets a ``TableNumber``: the MD5 hex digest of the folder's name
  (``hashlib.md5(b"BR00000001-A01-1").hexdigest()``), a deterministic id per
  folder (cytominer-database hashes the Image.csv bytes instead; see
  docs/ingest.md). ``ImageNumber`` restarts in each folder, so folders are
  linked on (``TableNumber``, ``ImageNumber``).

Folders are read in name order, one at a time, so memory holds one batch of
rows whatever the plate size. The output of a plate's CSV folders equals that of
its cytominer-database SQLite file.

Examples
--------
>>> import tempfile, pathlib
>>> from cytoplan.testing.synthetic import PlateSpec, write_csv_folders
>>> root = pathlib.Path(tempfile.mkdtemp())
>>> _ = write_csv_folders(PlateSpec("P1", wells=2, sites_per_well=1), root)
>>> lf = scan_cellprofiler_csv(root)
>>> lf.select("Metadata_Well", "Cells_AreaShape_Area").collect().shape
(16, 2)
>>> lf.collect_schema()["Metadata_TableNumber"]
String
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from cytoplan.exceptions import SchemaError, SourceError
from cytoplan.io._atomic import is_remote
from cytoplan.io._sqlite_fetch import to_target
from cytoplan.io._sqlite_plate import target_of
from cytoplan.io.cellprofiler import (
    IMAGE,
    IMG,
    RID,
    Layout,
    LinkSpec,
    OutputColumn,
    TableInfo,
    assemble,
    is_feature,
    link_key,
    merge_key,
    plan_join,
    resolve_layout,
)
from cytoplan.io.sqlite import chunk_rows_for

if TYPE_CHECKING:
    from cytoplan._typing import StorageOptions

__all__ = ["find_site_folders", "scan_cellprofiler_csv", "table_number"]

_UNPREFIXED = ("ImageNumber", "ObjectNumber")
_DECLARED = {pl.Int64: "INTEGER", pl.Float64: "REAL", pl.String: "TEXT", pl.Boolean: "INTEGER"}


def table_number(folder: str | Path) -> str:
    """The ``TableNumber`` of a CSV folder: MD5 hex digest of its name.

    >>> table_number("BR00000001-A01-1")
    'b4ce37000bbd7e3c9afafbc761b052bc'
    """
    return hashlib.md5(Path(folder).name.encode()).hexdigest()


def _csv_in(folder: Path, stem: str) -> Path | None:
    exact = folder / f"{stem}.csv"
    if exact.is_file():
        return exact
    wanted = f"{stem}.csv".lower()
    for child in folder.iterdir():
        if child.name.lower() == wanted and child.is_file():
            return child
    return None


def find_site_folders(root: str | Path) -> list[Path]:
    """Folders under ``root`` holding an ``Image.csv`` (``root`` itself if it holds one), sorted."""
    base = Path(root)
    if not base.exists():
        msg = f"CSV folder not found: {str(base)!r}"
        raise SourceError(msg)
    if not base.is_dir():
        msg = f"{str(base)!r} is a file; give the folder that holds the CellProfiler site folders"
        raise SourceError(msg)
    if _csv_in(base, "Image") is not None:
        return [base]
    folders = sorted(
        (child for child in base.iterdir() if child.is_dir() and _csv_in(child, "Image")),
        key=lambda p: p.name,
    )
    if not folders:
        msg = (
            f"no CellProfiler CSV folders in {str(base)!r}: expected sub-folders holding "
            "Image.csv, Cells.csv, Cytoplasm.csv, Nuclei.csv"
        )
        raise SourceError(msg)
    return folders


def _header(path: Path) -> dict[str, pl.DataType]:
    try:
        schema = pl.scan_csv(path, infer_schema_length=1000).collect_schema()
    except (pl.exceptions.PolarsError, OSError) as err:
        msg = f"cannot read the header of {str(path)!r}: {err}"
        raise SourceError(msg) from err
    if not schema:
        msg = f"{str(path)!r} is empty"
        raise SourceError(msg)
    return dict(schema)


@dataclass(frozen=True)
class _Files:
    """The CSV file of each table (compartments and :data:`IMAGE`) and its column prefix."""

    paths: dict[str, Path]
    prefixes: dict[str, str]


def _files(folder: Path, spec: LinkSpec) -> _Files:
    paths: dict[str, Path] = {}
    prefixes: dict[str, str] = {}
    explicit = spec.table_names
    wanted = {IMAGE: spec.image_table or "Image"}
    wanted |= {comp: explicit.get(comp, comp.capitalize()) for comp in spec.compartments}
    for key, stem in wanted.items():
        found = _csv_in(folder, stem)
        if found is None:
            msg = (
                f"{stem}.csv not found in {str(folder)!r}; files: "
                f"{sorted(p.name for p in folder.iterdir())}"
            )
            raise SourceError(msg)
        paths[key] = found
        prefixes[key] = "Image" if key == IMAGE else found.stem
    return _Files(paths, prefixes)


def _renamed(column: str, key: str, prefix: str) -> str:
    if key == IMAGE:
        keep = column == "ImageNumber" or column.startswith("Metadata_")
        return column if keep else f"Image_{column}"
    return column if column in _UNPREFIXED else f"{prefix}_{column}"


class _CsvPlate:
    """The CSV folders of one plate, with the layout of the first folder."""

    def __init__(self, root: str | Path, spec: LinkSpec) -> None:
        self.root = Path(root)
        self.spec = spec
        self.folders = find_site_folders(root)
        first = self.folders[0]
        files = _files(first, spec)
        catalogue: dict[str, TableInfo] = {}
        self.sources: dict[str, dict[str, str]] = {}
        for key, path in files.paths.items():
            header = _header(path)
            names = [_renamed(c, key, files.prefixes[key]) for c in header]
            declared = [_DECLARED.get(type(d), "REAL") for d in header.values()]
            if key == IMAGE:
                declared = [
                    "TEXT" if n.startswith("Metadata_") else d
                    for n, d in zip(names, declared, strict=True)
                ]
            self.sources[key] = dict(zip(names, header, strict=True))
            table_name = path.stem
            catalogue[table_name] = TableInfo(
                table_name, ("TableNumber", *names), ("TEXT", *declared)
            )
        self.layout: Layout = resolve_layout(spec, catalogue, where=str(self.root))

    def _read(self, folder: Path, files: _Files, key: str, wanted: Sequence[str]) -> pl.DataFrame:
        """Read columns ``wanted`` (prefixed names) of one CSV file, with ``TableNumber``.

        Features are parsed as Float64 (``nan`` → null), ``Metadata_*`` as text
        (barcodes keep leading zeros), other columns with Polars' inference.
        """
        path = files.paths[key]
        present = {_renamed(c, key, files.prefixes[key]): c for c in _header_names(path)}
        names = list(dict.fromkeys(n for n in wanted if n != "TableNumber"))
        missing = [n for n in names if n not in present]
        if missing:
            msg = (
                f"{str(path)!r} lacks column(s) {missing} (prefixed names) that "
                f"{str(self.folders[0])!r} has; all folders must have the same columns"
            )
            raise SchemaError(msg)
        extra = [n for n in present if n not in self.sources[key]]
        if extra:  # the first folder's columns are the plate's: one more would be lost
            msg = (
                f"{str(path)!r} has column(s) {extra} (prefixed names) that "
                f"{str(self.folders[0])!r} lacks; all folders must have the same columns"
            )
            raise SchemaError(msg)
        sources = {present[n]: n for n in names}
        overrides: dict[str, pl.DataType] = {}
        for name in names:
            if name.startswith("Metadata_"):
                overrides[present[name]] = pl.String()
            elif (
                key != IMAGE
                and is_feature(name, self.spec.compartments)
                and name not in self.layout.link_columns.get(key, ())
            ):
                overrides[present[name]] = pl.Float64()
        read = list(sources) or [next(iter(present.values()))]
        try:
            frame = pl.read_csv(
                path, columns=read, schema_overrides=overrides, infer_schema_length=10_000
            )
        except (pl.exceptions.PolarsError, OSError) as err:
            msg = f"cannot read {str(path)!r}: {err}"
            raise SchemaError(msg) from err
        height = frame.height
        frame = frame.select(list(sources)).rename(sources)
        floats = [n for n, dtype in frame.schema.items() if dtype == pl.Float64]
        frame = frame.with_columns(pl.col(floats).fill_nan(None))
        if "TableNumber" in wanted:
            number = pl.Series("TableNumber", [table_number(folder)] * height, dtype=pl.String)
            frame = frame.with_columns(number) if frame.width else pl.DataFrame([number])
        return frame

    def folder_frame(self, folder: Path, columns: Sequence[OutputColumn]) -> pl.DataFrame:
        """The merged single cells of one folder, with the output ``columns``."""
        layout = self.layout
        files = _files(folder, self.spec)
        merge = layout.merge_columns
        keys: dict[str, pl.DataFrame] = {}
        pieces: dict[str, pl.DataFrame] = {}
        for comp in layout.compartments:
            outputs = [c for c in columns if c.table == comp]
            wanted = [*merge, *layout.link_columns[comp], *(c.source for c in outputs)]
            frame = self._read(folder, files, comp, wanted).with_row_index(RID)
            keys[comp] = self._keys(frame, comp, RID, str(files.paths[comp]))
            pieces[comp] = frame.select(RID, *self._converted(frame, outputs, files.paths[comp]))
        image_cols = [c for c in columns if c.table == IMAGE]
        image = self._read(folder, files, IMAGE, [*merge, *(c.source for c in image_cols)])
        image = image.with_row_index(IMG)
        keys[IMAGE] = self._keys(image, IMAGE, IMG, str(files.paths[IMAGE]))
        image_frame = pl.DataFrame(self._converted(image, image_cols, files.paths[IMAGE]))
        situated = replace(layout, where=str(folder))
        plan = plan_join(situated, keys, self.spec.orphans, site=True)
        needed = {c.table for c in columns if c.table != IMAGE}
        return assemble(
            plan.frame,
            {comp: piece for comp, piece in pieces.items() if comp in needed},
            image_frame,
            columns,
        )

    def _keys(self, frame: pl.DataFrame, key: str, index: str, where: str) -> pl.DataFrame:
        merge = self.layout.merge_columns
        out = [frame.get_column(index)]
        for i, name in enumerate(merge):
            out.append(to_target(frame.get_column(name), "key", what=where).alias(merge_key(i)))
        if key != IMAGE:
            for name in self.layout.link_columns[key]:
                series = to_target(frame.get_column(name), "float", what=f"{name} of {where}")
                out.append(series.alias(link_key(key, name)))
        return pl.DataFrame(out)

    def _converted(
        self, frame: pl.DataFrame, columns: Sequence[OutputColumn], path: Path
    ) -> list[pl.Series]:
        out = []
        for column in columns:
            series = frame.get_column(column.source)
            what = f"column {column.source!r} of {str(path)!r}"
            out.append(to_target(series, target_of(column), what=what).alias(column.name))
        return out


def _header_names(path: Path) -> list[str]:
    """Column names from the first line (cheap: no type inference)."""
    import csv

    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            row = next(csv.reader(handle), [])
    except OSError as err:
        msg = f"cannot read {str(path)!r}: {err}"
        raise SourceError(msg) from err
    if not row:
        msg = f"{str(path)!r} is empty"
        raise SourceError(msg)
    return row


class _Scan:
    def __init__(self, plate: _CsvPlate, columns: tuple[OutputColumn, ...]) -> None:
        self.plate = plate
        self.columns = columns

    def __call__(
        self,
        with_columns: list[str] | None,
        predicate: pl.Expr | None,
        n_rows: int | None,
        batch_size: int | None,
    ) -> Iterator[pl.DataFrame]:
        layout = self.plate.layout
        names = with_columns if with_columns is not None else [c.name for c in self.columns]
        wanted = list(names)
        if predicate is not None:
            wanted += [n for n in predicate.meta.root_names() if n not in wanted]
        columns = layout.select(wanted)
        limit = chunk_rows_for(columns)
        produced = 0
        pending: list[pl.DataFrame] = []
        pending_rows = 0
        for folder in self.plate.folders:
            frame = self.plate.folder_frame(folder, columns)
            if predicate is not None:
                frame = frame.filter(predicate)
            frame = frame.select(names)
            if n_rows is not None:
                frame = frame.head(n_rows - produced)
            produced += frame.height
            pending.append(frame)
            pending_rows += frame.height
            if pending_rows >= limit or (n_rows is not None and produced >= n_rows):
                yield pl.concat(pending, how="vertical")
                pending, pending_rows = [], 0
            if n_rows is not None and produced >= n_rows:
                return
        if pending:
            yield pl.concat(pending, how="vertical")


def scan_cellprofiler_csv(
    root: str | Path,
    *,
    link: LinkSpec | None = None,
    columns: Sequence[str] | None = None,
    storage_options: StorageOptions | None = None,
) -> pl.LazyFrame:
    """Merged single cells of CellProfiler CSV folders, as a lazy frame.

    Parameters
    ----------
    root : str or Path
        The folder holding one sub-folder per site (``<plate>-<well>-<site>/``
        with ``Image.csv`` and one CSV per compartment), or one such folder.
    link : LinkSpec, optional
        As for :func:`~cytoplan.io.sqlite.scan_cellprofiler_sqlite` (compartment
        names map to ``<Compartment>.csv``; ``tables=`` and ``image_table=``
        name other files, without ``.csv``).
    columns : sequence of str, optional
        Keep only these output columns.
    storage_options : dict, optional
        Reserved for remote folders, which are not supported yet (a clear error).

    Returns
    -------
    polars.LazyFrame
        The same columns, names, types and row order as the cytominer-database
        SQLite file built from the same folders.

    Raises
    ------
    SourceError
        Missing folder, no site folders, a missing or unreadable CSV file.
    ColumnNotFoundError
        A linking column, image column or requested column is missing.
    JoinError
        Orphan objects (unless ``LinkSpec(orphans="drop")``), when collected.
    """
    if is_remote(root) or storage_options:
        msg = (
            f"remote CSV folders are not supported yet ({str(root)!r}); copy them locally "
            "(e.g. aws s3 sync) or convert the plate's SQLite file"
        )
        raise SourceError(msg)
    spec = link if link is not None else LinkSpec()
    plate = _CsvPlate(root, spec)
    selected = plate.layout.select(list(columns) if columns is not None else None)

    from polars.io.plugins import register_io_source

    return register_io_source(
        _Scan(plate, selected),
        schema={c.name: c.dtype for c in selected},
        validate_schema=False,
        is_pure=True,
        explain_name="cytoplan CellProfiler CSV folders",
        explain_detail=f"{plate.root} ({len(plate.folders)} folders)",
    )

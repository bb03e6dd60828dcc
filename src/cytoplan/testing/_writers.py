"""Streaming writers of synthetic plates: SQLite (two layouts), CSV folders, merged Parquet.

Each writer generates one image at a time and flushes bounded batches, so a
plate of any size is written in bounded memory.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Literal, get_args

import numpy as np

from cytoplan.testing._errors import SyntheticDataError
from cytoplan.testing._spec import PlateSpec, iter_images

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    import polars as pl
    import pyarrow as pa

    from cytoplan.testing._generate import ObjectTable, SiteImage

__all__ = [
    "SqliteLayout",
    "merged_columns",
    "sqlite_columns",
    "write_csv_folders",
    "write_merged_parquet",
    "write_sqlite",
]

SqliteLayout = Literal["cytominer-database", "exporttodatabase"]

#: Values buffered before an ``executemany`` flush (about 64 MB of Python floats).
_SQLITE_BATCH_VALUES = 2_000_000
#: Values per Parquet row group (8M float64 = 64 MB), clamped to a row range.
_PARQUET_GROUP_VALUES = 8_000_000
_PARQUET_GROUP_ROWS = (1_024, 65_536)


def _sql_type(value: object) -> str:
    if isinstance(value, str):
        return "TEXT"
    if isinstance(value, int | np.integer):
        return "INTEGER"
    return "REAL"


def _link_type(array: np.ndarray) -> str:
    return "INTEGER" if np.issubdtype(array.dtype, np.integer) else "REAL"


def _table_name(compartment: str, layout: SqliteLayout) -> str:
    return compartment if layout == "cytominer-database" else f"Per_{compartment}"


def _image_key_columns(layout: SqliteLayout) -> list[tuple[str, str]]:
    if layout == "cytominer-database":
        return [("TableNumber", "TEXT"), ("ImageNumber", "INTEGER")]
    return [("ImageNumber", "INTEGER")]


def _image_schema(image: SiteImage, layout: SqliteLayout) -> list[tuple[str, str]]:
    columns = _image_key_columns(layout)
    for name, value in image.image_columns:
        keep = layout == "cytominer-database" and name.startswith("Metadata_")
        columns.append((name if keep else f"Image_{name}", _sql_type(value)))
    return columns


def _object_schema(table: ObjectTable, layout: SqliteLayout) -> list[tuple[str, str]]:
    prefix = table.compartment
    columns = [*_image_key_columns(layout), ("ObjectNumber", "INTEGER")]
    columns += [(f"{prefix}_{name}", _link_type(array)) for name, array in table.links]
    columns += [(f"{prefix}_{name}", "REAL") for name in table.feature_names]
    return columns


def sqlite_columns(
    spec: PlateSpec, layout: SqliteLayout = "cytominer-database"
) -> dict[str, list[tuple[str, str]]]:
    """Table name → ``[(column, declared SQLite type), ...]`` that :func:`write_sqlite` makes.

    Examples
    --------
    >>> cols = sqlite_columns(PlateSpec("P1"), "exporttodatabase")
    >>> list(cols)
    ['Per_Image', 'Per_Cells', 'Per_Cytoplasm', 'Per_Nuclei']
    >>> cols["Per_Cytoplasm"][:4]  # doctest: +NORMALIZE_WHITESPACE
    [('ImageNumber', 'INTEGER'), ('ObjectNumber', 'INTEGER'),
     ('Cytoplasm_Parent_Cells', 'INTEGER'), ('Cytoplasm_Parent_Nuclei', 'INTEGER')]
    """
    _check_layout(layout)
    first = spec.image(0)
    out = {_table_name("Image", layout): _image_schema(first, layout)}
    for table in first.objects:
        out[_table_name(table.compartment, layout)] = _object_schema(table, layout)
    return out


def _check_layout(layout: str) -> None:
    if layout not in get_args(SqliteLayout):
        msg = f"layout must be one of {get_args(SqliteLayout)}, got {layout!r}"
        raise SyntheticDataError(msg)


def _image_keys(image: SiteImage, layout: SqliteLayout) -> list[object]:
    if layout == "cytominer-database":
        return [image.table_number, 1]
    return [image.index + 1]


def _object_rows(table: ObjectTable, keys: list[object]) -> list[list[object]]:
    links = [array.tolist() for _, array in table.links]
    objects = table.object_number.tolist()
    rows = [
        [*keys, obj, *link, *feat]
        for obj, link, feat in zip(
            objects, zip(*links, strict=True), table.features.tolist(), strict=True
        )
    ]
    offset = len(keys) + 1 + len(links)
    for row, col in table.text_nan:
        rows[row][offset + col] = "nan"
    return rows


def _create_tables(
    con: sqlite3.Connection, schema: dict[str, list[tuple[str, str]]], layout: SqliteLayout
) -> None:
    for table, columns in schema.items():
        body = ", ".join(f'"{name}" {sqltype}' for name, sqltype in columns)
        if layout == "exporttodatabase":
            keys = '"ImageNumber"' if table == "Per_Image" else '"ImageNumber", "ObjectNumber"'
            body += f", PRIMARY KEY ({keys})"
        con.execute(f'CREATE TABLE "{table}" ({body})')


def _create_indexes(con: sqlite3.Connection, compartments: Sequence[str]) -> None:
    """The indexes pycytominer's ``collate`` adds to a cytominer-database file."""
    con.execute("CREATE INDEX IF NOT EXISTS table_image_idx ON Image(TableNumber, ImageNumber)")
    for compartment in compartments:
        con.execute(
            f"CREATE INDEX IF NOT EXISTS table_image_object_{compartment.lower()}_idx "
            f"ON {compartment}(TableNumber, ImageNumber, ObjectNumber)"
        )
    con.execute(
        "CREATE INDEX IF NOT EXISTS plate_well_image_idx ON Image(Metadata_Plate, Metadata_Well)"
    )


@contextlib.contextmanager
def _atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary sibling of ``path``; rename it to ``path`` only on success."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    try:
        yield tmp
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def _flush(
    con: sqlite3.Connection, pending: dict[str, list[list[object]]], width: dict[str, int]
) -> None:
    con.execute("BEGIN")
    for table, rows in pending.items():
        if rows:
            marks = ", ".join("?" * width[table])
            con.executemany(f'INSERT INTO "{table}" VALUES ({marks})', rows)
            rows.clear()
    con.execute("COMMIT")


def write_sqlite(
    spec: PlateSpec, path: str | os.PathLike[str], layout: SqliteLayout = "cytominer-database"
) -> Path:
    """Write a plate as a CellProfiler single-cell SQLite file, streaming image by image.

    Layouts:

    * ``"cytominer-database"`` (JUMP's ``backend/<plate>.sqlite``): tables
      ``Image``, ``Cells``, ``Cytoplasm``, ``Nuclei``; every table starts with
      ``TableNumber`` (TEXT, one MD5 hex digest per site folder) and
      ``ImageNumber`` (always 1: one image per folder), so joins need both.
      Image metadata keep their names (``Metadata_Well``); other image columns
      get the ``Image_`` prefix. Indexes as pycytominer's ``collate`` makes.
    * ``"exporttodatabase"`` (CellProfiler ExportToDatabase, one table per
      object type): ``Per_Image`` (``ImageNumber`` 1..N, every other column
      ``Image_``-prefixed) and ``Per_<Compartment>`` keyed by
      ``(ImageNumber, ObjectNumber)``.

    Features are REAL, ids and counts INTEGER, metadata and file names TEXT.
    Missing values are NULL, except a few cells of one feature column that hold
    the TEXT ``'nan'`` (as some real files do). The file is written under a
    temporary name and renamed when complete.

    Parameters
    ----------
    spec : PlateSpec
    path : str or path-like
        Output file; replaced if it exists.
    layout : {"cytominer-database", "exporttodatabase"}

    Returns
    -------
    Path
        The written file.

    Raises
    ------
    SyntheticDataError
        Unknown layout, or a table wider than SQLite's 2,000-column limit.

    Examples
    --------
    >>> import sqlite3, tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "P1.sqlite"
    >>> _ = write_sqlite(PlateSpec("P1", wells=2, sites_per_well=1), out)
    >>> sqlite3.connect(out).execute("SELECT count(*) FROM Cells").fetchone()
    (16,)
    """
    _check_layout(layout)
    schema = sqlite_columns(spec, layout)
    _check_width(schema, sqlite3.connect(":memory:").getlimit(sqlite3.SQLITE_LIMIT_COLUMN))
    width = {table: len(columns) for table, columns in schema.items()}
    target = Path(path)
    with _atomic_path(target) as tmp:
        con = sqlite3.connect(tmp, isolation_level=None)
        try:
            con.execute("PRAGMA journal_mode=OFF")
            con.execute("PRAGMA synchronous=OFF")
            _create_tables(con, schema, layout)
            _insert_images(con, spec, layout, width)
            if layout == "cytominer-database":
                _create_indexes(con, spec.compartments)
        finally:
            con.close()
    return target


def _check_width(schema: dict[str, list[tuple[str, str]]], limit: int) -> None:
    for table, columns in schema.items():
        if len(columns) > limit:
            msg = (
                f"table {table} would have {len(columns)} columns but this SQLite allows at most "
                f"{limit} (SQLITE_MAX_COLUMN); lower features_per_compartment or write Parquet/CSV"
            )
            raise SyntheticDataError(msg)


def _insert_images(
    con: sqlite3.Connection, spec: PlateSpec, layout: SqliteLayout, width: dict[str, int]
) -> None:
    image_table = _table_name("Image", layout)
    pending: dict[str, list[list[object]]] = {table: [] for table in width}
    buffered = 0
    for image in iter_images(spec):
        keys = _image_keys(image, layout)
        pending[image_table].append([*keys, *(value for _, value in image.image_columns)])
        for table in image.objects:
            rows = _object_rows(table, keys)
            pending[_table_name(table.compartment, layout)].extend(rows)
            buffered += len(rows) * width[_table_name(table.compartment, layout)]
        if buffered >= _SQLITE_BATCH_VALUES:
            _flush(con, pending, width)
            buffered = 0
    _flush(con, pending, width)


def _site_folder(image: SiteImage) -> str:
    return f"{image.plate}-{image.well}-{image.site}"


def write_csv_folders(spec: PlateSpec, root: str | os.PathLike[str]) -> list[Path]:
    """Write a plate as CellProfiler ExportToSpreadsheet CSV folders, one per site.

    Layout: ``root/<plate>-<well>-<site>/{Image,Cells,Cytoplasm,Nuclei}.csv``
    with unprefixed column names (``ImageNumber, ObjectNumber, AreaShape_Area,
    Parent_Nuclei, ...``) and ``ImageNumber`` 1 in every folder. Values equal
    those of :func:`write_sqlite` for the same spec; missing values are empty
    fields.

    Parameters
    ----------
    spec : PlateSpec
    root : str or path-like
        Folder that receives the site folders (created if needed).

    Returns
    -------
    list of Path
        The site folders, in image order.

    Examples
    --------
    >>> import tempfile
    >>> folders = write_csv_folders(PlateSpec("P1", wells=2, sites_per_well=1), tempfile.mkdtemp())
    >>> [f.name for f in folders], sorted(p.name for p in folders[0].iterdir())
    (['P1-A01-1', 'P1-A02-1'], ['Cells.csv', 'Cytoplasm.csv', 'Image.csv', 'Nuclei.csv'])
    """
    import polars as pl

    base = Path(root)
    folders = []
    for image in iter_images(spec):
        folder = base / _site_folder(image)
        folder.mkdir(parents=True, exist_ok=True)
        head = {"ImageNumber": [1]} | {name: [value] for name, value in image.image_columns}
        pl.DataFrame(head).write_csv(folder / "Image.csv")
        for table in image.objects:
            frame = _object_frame(table)
            frame.write_csv(folder / f"{table.compartment}.csv", null_value="")
        folders.append(folder)
    return folders


def _object_frame(table: ObjectTable) -> pl.DataFrame:
    import polars as pl

    m = table.object_number.size
    head: dict[str, np.ndarray] = {
        "ImageNumber": np.ones(m, dtype=np.int64),
        "ObjectNumber": table.object_number,
    }
    head |= dict(table.links)
    features = pl.from_numpy(table.features, schema=list(table.feature_names), orient="row")
    return pl.concat([pl.DataFrame(head), features.fill_nan(None)], how="horizontal")


_IMAGE_COLUMNS_PYCYTOMINER = (
    "Metadata_ImageNumber",
    "Metadata_Plate",
    "Metadata_Site",
    "Metadata_Well",
    "Metadata_TableNumber",
)


def merged_columns(spec: PlateSpec) -> list[str]:
    """Column names of the merged single-cell table of :func:`write_merged_parquet`.

    They mirror pycytominer's ``SingleCells.merge_single_cells`` on the
    cytominer-database layout: image columns (``np.union1d`` order, renamed to
    ``Metadata_*``), then cytoplasm, cells and nuclei columns, with
    ``ObjectNumber`` suffixed ``_cytoplasm`` / ``_cells`` and the cytoplasm
    linking columns renamed ``Metadata_Cytoplasm_Parent_*`` in place.

    Examples
    --------
    >>> merged_columns(PlateSpec("P1", features_per_compartment=1))[:9]
    ... # doctest: +NORMALIZE_WHITESPACE
    ['Metadata_ImageNumber', 'Metadata_Plate', 'Metadata_Site', 'Metadata_Well',
     'Metadata_TableNumber', 'Metadata_ObjectNumber_cytoplasm',
     'Metadata_Cytoplasm_Parent_Cells', 'Metadata_Cytoplasm_Parent_Nuclei',
     'Cytoplasm_Number_Object_Number']
    """
    _check_merge_compartments(spec)
    first = spec.image(0)
    tables = {t.compartment: t for t in first.objects}
    columns = list(_IMAGE_COLUMNS_PYCYTOMINER)
    for compartment, object_column in _MERGE_ORDER:
        columns.append(object_column)
        columns += [_merged_name(compartment, name) for name, _ in tables[compartment].links]
        columns += [f"{compartment}_{name}" for name in tables[compartment].feature_names]
    return columns


_MERGE_ORDER = (
    ("Cytoplasm", "Metadata_ObjectNumber_cytoplasm"),
    ("Cells", "Metadata_ObjectNumber_cells"),
    ("Nuclei", "Metadata_ObjectNumber"),
)


def _merged_name(compartment: str, link: str) -> str:
    name = f"{compartment}_{link}"
    return f"Metadata_{name}" if compartment == "Cytoplasm" and link.startswith("Parent_") else name


def _check_merge_compartments(spec: PlateSpec) -> None:
    if set(spec.compartments) != {"Cells", "Cytoplasm", "Nuclei"}:
        msg = (
            "the merged single-cell table needs the compartments Cells, Cytoplasm and Nuclei; "
            f"plate {spec.plate} has {spec.compartments}"
        )
        raise SyntheticDataError(msg)


def _merged_batch(images: list[SiteImage], columns: list[str]) -> pa.Table:
    import pyarrow as pa

    sizes = [image.cells_per_site for image in images]
    per_image = [("1", im.plate, str(im.site), im.well, im.table_number) for im in images]
    arrays: list[pa.Array] = []
    for k in range(len(_IMAGE_COLUMNS_PYCYTOMINER)):
        values = np.repeat(np.array([p[k] for p in per_image], dtype=object), sizes)
        arrays.append(pa.array(values, type=pa.string()))
    for compartment, _ in _MERGE_ORDER:
        parts = [_reordered(image, compartment) for image in images]
        arrays.append(pa.array(np.concatenate([p[0] for p in parts])).cast(pa.string()))
        link_names = [name for name, _ in images[0].table(compartment).links]
        for i, name in enumerate(link_names):
            array = pa.array(np.concatenate([p[1][i] for p in parts]))
            if _merged_name(compartment, name).startswith("Metadata_"):
                array = array.cast(pa.string())
            arrays.append(array)
        features = np.asfortranarray(np.concatenate([p[2] for p in parts]))
        arrays += [pa.array(features[:, j], from_pandas=True) for j in range(features.shape[1])]
    return pa.Table.from_arrays(arrays, names=columns)


def _reordered(
    image: SiteImage, compartment: str
) -> tuple[np.ndarray, list[np.ndarray], np.ndarray]:
    """Object numbers, links and features of a compartment, in cytoplasm-hub row order."""
    cyto = dict(image.table("Cytoplasm").links)
    if compartment == "Cytoplasm":
        rows: np.ndarray = np.arange(image.cells_per_site)
    else:
        rows = np.asarray(cyto[f"Parent_{compartment}"]) - 1
    table = image.table(compartment)
    links = [np.asarray(array)[rows] for _, array in table.links]
    return table.object_number[rows], links, table.features[rows]


def write_merged_parquet(spec: PlateSpec, path: str | os.PathLike[str]) -> Path:
    """Write the merged single-cell table (cytoplasm as hub) as Parquet, by row groups.

    Row ``k`` of an image joins cytoplasm ``k`` with its parent cell and parent
    nucleus, as pycytominer's ``SingleCells.merge_single_cells`` does on the
    cytominer-database file of the same spec (column names:
    :func:`merged_columns`). ``Metadata_*`` columns are strings; missing
    values (the SQLite TEXT 'nan' cells included) are nulls.

    Parameters
    ----------
    spec : PlateSpec
        Must have all three compartments.
    path : str or path-like
        Output file; written under a temporary name, then renamed.

    Returns
    -------
    Path

    Examples
    --------
    >>> import tempfile, pathlib, polars as pl
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "sc.parquet"
    >>> _ = write_merged_parquet(PlateSpec("P1", wells=2, sites_per_well=1), out)
    >>> pl.read_parquet(out).shape
    (16, 110)
    """
    import pyarrow.parquet as pq

    columns = merged_columns(spec)
    per_image = spec.cells_per_site
    low, high = _PARQUET_GROUP_ROWS
    group_rows = min(max(_PARQUET_GROUP_VALUES // len(columns), low), high)
    images_per_group = max(1, group_rows // per_image)
    target = Path(path)
    with _atomic_path(target) as tmp:
        writer = None
        try:
            for start in range(0, spec.n_images, images_per_group):
                batch = list(iter_images(spec, start, start + images_per_group))
                table = _merged_batch(batch, columns)
                if writer is None:
                    writer = pq.ParquetWriter(
                        tmp,
                        table.schema,
                        compression="snappy",
                        use_dictionary=[c for c in columns if c.startswith("Metadata_")],
                    )
                writer.write_table(table, row_group_size=table.num_rows)
        finally:
            if writer is not None:
                writer.close()
    return target

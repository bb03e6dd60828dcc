"""How CellProfiler object tables link into single cells, as pycytominer's ``SingleCells`` does.

This module holds what the SQLite and CSV-folder sources share and that does
not touch files:

* :class:`LinkSpec` — compartments, linking columns, merge keys, image columns
  and table names (auto-detected unless given);
* :func:`resolve_layout` — from the tables' column names to the output columns
  (names, order and types exactly as ``SingleCells.merge_single_cells`` of
  pycytominer 1.7.1 produces them, with ``Metadata_*`` as strings);
* :func:`plan_join` — the join done on the key columns only (a few small columns
  per object): which row of every compartment table makes each output row, in
  pycytominer's row order, with orphan and duplicate checks;
* :func:`assemble` — puts the wide columns of a slice of the plan together.

The wide feature columns are then read in row batches by the sources, so the
merge of a plate streams in bounded memory.

Examples
--------
>>> spec = LinkSpec()
>>> spec.hub, spec.linking["cytoplasm"]
('cytoplasm', {'cells': 'Cytoplasm_Parent_Cells', 'nuclei': 'Cytoplasm_Parent_Nuclei'})
>>> tables = {
...     "Per_Image": TableInfo("Per_Image", ("ImageNumber", "Image_Metadata_Plate",
...                            "Image_Metadata_Well", "Image_Metadata_Site")),
...     "Per_Cytoplasm": TableInfo("Per_Cytoplasm", ("ImageNumber", "ObjectNumber",
...         "Cytoplasm_Parent_Cells", "Cytoplasm_Parent_Nuclei", "Cytoplasm_A")),
...     "Per_Cells": TableInfo("Per_Cells", ("ImageNumber", "ObjectNumber", "Cells_A")),
...     "Per_Nuclei": TableInfo("Per_Nuclei", ("ImageNumber", "ObjectNumber", "Nuclei_A")),
... }
>>> [c.name for c in resolve_layout(spec, tables).columns]  # doctest: +NORMALIZE_WHITESPACE
['Metadata_ImageNumber', 'Image_Metadata_Plate', 'Image_Metadata_Site', 'Image_Metadata_Well',
 'Metadata_ObjectNumber_cytoplasm', 'Metadata_Cytoplasm_Parent_Cells',
 'Metadata_Cytoplasm_Parent_Nuclei', 'Cytoplasm_A', 'Metadata_ObjectNumber_cells', 'Cells_A',
 'Metadata_ObjectNumber', 'Nuclei_A']
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import polars as pl

from cytoplan.exceptions import ColumnNotFoundError, JoinError, SchemaError, SourceError

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "DEFAULT_COMPARTMENTS",
    "DEFAULT_LINKING_COLUMNS",
    "IMAGE",
    "JoinPlan",
    "Layout",
    "LinkSpec",
    "MergeStep",
    "OutputColumn",
    "TableInfo",
    "assemble",
    "is_feature",
    "plan_join",
    "resolve_layout",
]

#: pycytominer 1.7.1 ``get_default_linking_cols()``.
DEFAULT_LINKING_COLUMNS: dict[str, dict[str, str]] = {
    "cytoplasm": {"cells": "Cytoplasm_Parent_Cells", "nuclei": "Cytoplasm_Parent_Nuclei"},
    "cells": {"cytoplasm": "ObjectNumber"},
    "nuclei": {"cytoplasm": "ObjectNumber"},
}
DEFAULT_COMPARTMENTS: tuple[str, ...] = ("cytoplasm", "cells", "nuclei")
#: The name used for the image table in plans and output column provenance.
IMAGE = "image"
#: Image columns kept by default (pycytominer's image_cols ∪ strata, minus merge keys).
_DEFAULT_IMAGE_METADATA = ("Metadata_Site", "Metadata_Plate", "Metadata_Well")

Orphans = Literal["raise", "drop"]
Kind = Literal["key", "metadata", "feature", "other"]

_LinkTuple = tuple[tuple[str, tuple[tuple[str, str], ...]], ...]


def _freeze_links(links: Mapping[str, Mapping[str, str]] | _LinkTuple) -> _LinkTuple:
    if isinstance(links, tuple):
        return links
    if not isinstance(links, Mapping) or not all(isinstance(v, Mapping) for v in links.values()):
        msg = (
            "linking_columns must be a dict of dicts, "
            "e.g. {'cytoplasm': {'cells': 'Cytoplasm_Parent_Cells'}, ...}"
        )
        raise SchemaError(msg)
    return tuple((str(k), tuple((str(r), str(c)) for r, c in v.items())) for k, v in links.items())


@dataclass(frozen=True)
class LinkSpec:
    """How the object tables of a CellProfiler output link into single cells.

    Every field has pycytominer 1.7.1's ``SingleCells`` default; ``None`` means
    "detect from the tables".

    Parameters
    ----------
    compartments : sequence of str
        Object compartments (non-canonical ones such as ``"speckles"`` allowed).
    linking_columns : dict of dict
        ``{left: {right: column in left's table}}``; every pair in both
        directions (checked like pycytominer's ``assert_linking_cols_complete``).
        The first key is the hub: its table order is the output row order.
    merge_columns : sequence of str, optional
        Image keys shared by every table: ``TableNumber, ImageNumber`` when all
        tables have a ``TableNumber`` (cytominer-database), else ``ImageNumber``.
    image_columns : sequence of str, optional
        Image-table columns put in front (sorted, as pycytominer does). Default:
        the merge keys plus ``Metadata_Site``, ``Metadata_Plate``,
        ``Metadata_Well`` — or their ``Image_Metadata_*`` names (ExportToDatabase).
    image_table : str, optional
        Default: the table named ``Image`` or ``Per_Image`` (any case).
    tables : dict, optional
        Compartment → table name. Default: ``<Compartment>`` or
        ``Per_<Compartment>`` (any case).
    orphans : {"raise", "drop"}
        Objects whose parent (or image row) does not exist. ``"raise"`` (default)
        raises :class:`~cytoplan.exceptions.JoinError` with counts; ``"drop"`` does
        what pycytominer silently does: drops objects without a parent and keeps
        objects without an image row (with null image columns).

    Examples
    --------
    >>> LinkSpec(orphans="drop").orphans
    'drop'
    >>> LinkSpec(compartments=["cells", "nuclei"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    cytoplan.exceptions.SchemaError: cytoplasm compartment not found. Check the ...
    """

    compartments: tuple[str, ...] = DEFAULT_COMPARTMENTS
    linking_columns: _LinkTuple = field(
        default_factory=lambda: _freeze_links(DEFAULT_LINKING_COLUMNS)
    )
    merge_columns: tuple[str, ...] | None = None
    image_columns: tuple[str, ...] | None = None
    image_table: str | None = None
    tables: tuple[tuple[str, str], ...] | None = None
    orphans: Orphans = "raise"

    def __post_init__(self) -> None:
        object.__setattr__(self, "compartments", tuple(self.compartments))
        object.__setattr__(self, "linking_columns", _freeze_links(self.linking_columns))
        for name in ("merge_columns", "image_columns"):
            value = getattr(self, name)
            if value is not None:
                if isinstance(value, str):
                    value = (value,)
                object.__setattr__(self, name, tuple(value))
        if self.tables is not None and isinstance(self.tables, Mapping):
            object.__setattr__(self, "tables", tuple(self.tables.items()))
        if self.orphans not in ("raise", "drop"):
            msg = f"orphans must be 'raise' or 'drop', got {self.orphans!r}"
            raise SchemaError(msg)
        if self.merge_columns is not None and not self.merge_columns:
            msg = "merge_columns must name at least one column (e.g. 'ImageNumber')"
            raise SchemaError(msg)
        _check_links_complete(self.linking, list(self.compartments))

    @property
    def linking(self) -> dict[str, dict[str, str]]:
        """The linking columns as a dict of dicts (a copy)."""
        return {left: dict(rights) for left, rights in self.linking_columns}

    @property
    def hub(self) -> str:
        """The first compartment of the linking columns (pycytominer's left table)."""
        return self.linking_columns[0][0]

    @property
    def table_names(self) -> dict[str, str]:
        """Explicit compartment → table names (empty when detected)."""
        return dict(self.tables or ())


def _check_links_complete(links: dict[str, dict[str, str]], compartments: list[str]) -> None:
    """pycytominer's ``assert_linking_cols_complete``, raising :class:`SchemaError`."""
    if not links:
        msg = "linking_columns is empty; name at least two linked compartments"
        raise SchemaError(msg)
    comp_err = "compartment not found. Check the specified compartments"
    pairs: list[str] = []
    named: set[str] = set()
    for left, rights in links.items():
        named.add(left)
        if left not in compartments:
            msg = f"{left} {comp_err}"
            raise SchemaError(msg)
        for right in rights:
            named.add(right)
            if right not in compartments:
                msg = f"{right} {comp_err}"
                raise SchemaError(msg)
            pairs.append("-".join(sorted([left, right])))
    for combo, count in Counter(pairs).items():
        if count != 2:
            msg = f"Missing column identifier between {combo} (give the link in both directions)"
            raise SchemaError(msg)
    missing = set(compartments) - named
    if missing or len(set(compartments)) != len(compartments):
        msg = (
            f"All compartments must be specified in the linking_cols, {sorted(missing)} is missing"
            if missing
            else f"compartments are repeated: {list(compartments)}"
        )
        raise SchemaError(msg)


@dataclass(frozen=True)
class TableInfo:
    """Name, columns and (SQLite) declared types of one table."""

    name: str
    columns: tuple[str, ...]
    declared: tuple[str, ...] = ()
    kind: Literal["table", "view"] = "table"

    def affinity(self, column: str) -> str:
        """SQLite type affinity of a column: INTEGER, TEXT, BLOB, REAL or NUMERIC."""
        if not self.declared:
            return "NUMERIC"
        declared = self.declared[self.columns.index(column)].upper()
        if "INT" in declared:
            return "INTEGER"
        if any(word in declared for word in ("CHAR", "CLOB", "TEXT")):
            return "TEXT"
        if declared == "" or "BLOB" in declared:
            return "BLOB"
        if any(word in declared for word in ("REAL", "FLOA", "DOUB")):
            return "REAL"
        return "NUMERIC"


@dataclass(frozen=True)
class OutputColumn:
    """One output column: its name, where it comes from and its type."""

    name: str
    table: str
    source: str
    kind: Kind
    dtype: pl.DataType


@dataclass(frozen=True)
class MergeStep:
    """One pycytominer merge: ``right`` joins on ``left_link`` (a column of ``left_table``)."""

    left_table: str
    left_link: str
    right: str
    right_link: str


@dataclass(frozen=True)
class Layout:
    """Everything a source needs to merge single cells of one plate."""

    image: TableInfo
    compartments: dict[str, TableInfo]
    merge_columns: tuple[str, ...]
    image_columns: tuple[str, ...]
    steps: tuple[MergeStep, ...]
    columns: tuple[OutputColumn, ...]
    link_columns: dict[str, tuple[str, ...]]
    where: str = ""

    @property
    def schema(self) -> pl.Schema:
        """The output schema (before any projection)."""
        return pl.Schema({c.name: c.dtype for c in self.columns})

    def table_of(self, compartment: str) -> TableInfo:
        """The table of a compartment, or the image table for :data:`IMAGE`."""
        return self.image if compartment == IMAGE else self.compartments[compartment]

    def select(self, names: Sequence[str] | None) -> tuple[OutputColumn, ...]:
        """Output columns for a projection (all when ``names`` is None), in the given order."""
        if names is None:
            return self.columns
        by_name = {c.name: c for c in self.columns}
        missing = [n for n in names if n not in by_name]
        if missing:
            raise ColumnNotFoundError.from_missing(missing, by_name, where=self.where)
        return tuple(by_name[n] for n in names)


def _find_table(
    wanted: str, catalogue: Mapping[str, TableInfo], explicit: str | None, where: str
) -> TableInfo:
    if explicit is not None:
        for name, info in catalogue.items():
            if name.lower() == explicit.lower():
                return info
        msg = f"table {explicit!r} not found in {where}; tables: {sorted(catalogue)}"
        raise SourceError(msg)
    candidates = [
        info
        for name, info in catalogue.items()
        if name.lower() in (wanted.lower(), f"per_{wanted.lower()}")
    ]
    if any(c.kind == "table" for c in candidates):
        candidates = [c for c in candidates if c.kind == "table"]
    if not candidates:
        msg = (
            f"no {wanted!r} table in {where} (looked for {wanted!r} and 'Per_{wanted}', any case); "
            f"tables: {sorted(catalogue)}. Pass LinkSpec(tables={{...}}) if it has another name"
        )
        raise SourceError(msg)
    if len(candidates) > 1:
        names = sorted(c.name for c in candidates)
        msg = f"several tables could hold {wanted!r} in {where}: {names}; pass LinkSpec(tables=...)"
        raise SourceError(msg)
    return candidates[0]


def _require(table: TableInfo, names: Sequence[str], where: str, what: str = "column") -> None:
    missing = [n for n in names if n not in table.columns]
    if missing:
        place = f"table {table.name!r} of {where}" if where else f"table {table.name!r}"
        err = ColumnNotFoundError.from_missing(missing, table.columns, where=place)
        if what != "column":
            msg = f"{what}: {err}"
            raise ColumnNotFoundError(msg)
        raise err


def is_feature(column: str, compartments: Sequence[str]) -> bool:
    """pycytominer ``SingleCells.split_column_categories``: case-insensitive prefix, no ``_``."""
    return column.lower().startswith(tuple(c.lower() for c in compartments))


def _dtype(name: str, kind: Kind, table: TableInfo, source: str) -> pl.DataType:
    if name.startswith(("Metadata_", "Image_Metadata_")) or kind in ("metadata", "key"):
        return pl.String()
    if kind == "feature":
        return pl.Float64()
    affinity = table.affinity(source)
    if affinity == "TEXT":
        return pl.String()
    if affinity == "INTEGER":
        return pl.Int64()
    return pl.Float64()


@dataclass
class _Col:
    name: str
    table: str
    source: str


def resolve_layout(
    spec: LinkSpec, catalogue: Mapping[str, TableInfo], *, where: str = ""
) -> Layout:
    """Find the tables and compute the output columns, as pycytominer names and orders them.

    Parameters
    ----------
    spec : LinkSpec
    catalogue : dict of str to TableInfo
        Every table (and view) of the source, by name.
    where : str
        The source's name for messages (e.g. the file path).

    Returns
    -------
    Layout

    Raises
    ------
    SourceError
        A table is missing or ambiguous.
    ColumnNotFoundError
        A merge key, linking column or image column is missing.
    SchemaError
        The linking cannot be done the way pycytominer would do it.
    """
    explicit = spec.table_names
    image = _find_table("Image", catalogue, spec.image_table, where)
    tables = {
        comp: _find_table(comp.capitalize(), catalogue, explicit.get(comp), where)
        for comp in spec.compartments
    }
    every = [image, *tables.values()]
    if spec.merge_columns is not None:
        merge = spec.merge_columns
    elif all("TableNumber" in t.columns for t in every):
        merge = ("TableNumber", "ImageNumber")
    else:
        merge = ("ImageNumber",)
    for table in every:
        _require(table, merge, where, what="merge column(s) missing")
    links = spec.linking
    link_columns: dict[str, list[str]] = {comp: [] for comp in tables}
    for left, rights in links.items():
        for column in rights.values():
            _require(tables[left], [column], where, what="linking column missing")
            if column not in link_columns[left]:
                link_columns[left].append(column)
    image_columns = _image_columns(spec, image, merge, where)

    ordered: dict[str, list[_Col]] = {}
    for comp, table in tables.items():
        meta = [c for c in table.columns if not is_feature(c, spec.compartments)]
        feats = [c for c in table.columns if is_feature(c, spec.compartments)]
        ordered[comp] = [_Col(c, comp, c) for c in [*meta, *feats]]

    frame, steps, suffixes = _simulate_merges(spec, ordered, merge, where)
    frame = _merge_image(image_columns, frame, merge)
    frame = _rename(frame, links, merge, suffixes)
    columns = _typed(frame, spec, image, tables, merge)
    counts = Counter(c.name for c in columns)
    duplicated = [name for name, n in counts.items() if n > 1]
    if duplicated:
        msg = (
            f"the merged single cells of {where} would have duplicated column names: "
            f"{duplicated} (pandas' merge raises MergeError here too); rename the clashing columns"
        )
        raise SchemaError(msg)
    return Layout(
        image=image,
        compartments=tables,
        merge_columns=tuple(merge),
        image_columns=tuple(image_columns),
        steps=tuple(steps),
        columns=tuple(columns),
        link_columns={comp: tuple(cols) for comp, cols in link_columns.items()},
        where=where,
    )


def _image_columns(spec: LinkSpec, image: TableInfo, merge: Sequence[str], where: str) -> list[str]:
    if spec.image_columns is not None:
        wanted = list(spec.image_columns)
    else:
        wanted = []
        for name in _DEFAULT_IMAGE_METADATA:
            for candidate in (name, f"Image_{name}"):
                if candidate in image.columns:
                    wanted.append(candidate)
                    break
            else:
                msg = (
                    f"image column {name!r} (or 'Image_{name}') not found in table "
                    f"{image.name!r} of {where}; pass LinkSpec(image_columns=[...]) to choose"
                )
                raise ColumnNotFoundError(msg)
    chosen = sorted(set(wanted) | set(merge))
    _require(image, chosen, where, what="image column(s) missing")
    return chosen


def _simulate_merges(
    spec: LinkSpec, ordered: dict[str, list[_Col]], merge: Sequence[str], where: str
) -> tuple[list[_Col], list[MergeStep], list[str]]:
    """Replay pycytominer's ``merge_single_cells`` loop on column names (pandas merge rules)."""
    links = spec.linking
    hub = spec.hub
    frame = [_Col(c.name, c.table, c.source) for c in ordered[hub]]
    loaded = {hub}
    seen: set[str] = set()
    steps: list[MergeStep] = []
    suffixes: list[str] = []
    for left, rights in links.items():
        for right in rights:
            pair = "-".join(sorted([left, right]))
            if pair in seen:
                continue
            seen.add(pair)
            suffixes += [f"_{left}", f"_{right}"]
            left_link, right_link = links[left][right], links[right][left]
            found = [c for c in frame if c.name == left_link]
            if not found:
                msg = (
                    f"cannot link {left!r} to {right!r} in {where}: column {left_link!r} is not in "
                    "the merged table at that point (pycytominer would fail too); reorder "
                    "linking_columns so that the hub comes first"
                )
                raise SchemaError(msg)
            if right in loaded:
                msg = f"compartment {right!r} would be merged twice (a cycle in linking_columns)"
                raise SchemaError(msg)
            loaded.add(right)
            steps.append(MergeStep(found[0].table, found[0].source, right, right_link))
            left_on, right_on = [*merge, left_link], [*merge, right_link]
            same = {r for lk, r in zip(left_on, right_on, strict=True) if lk == r}
            right_cols = [_Col(c.name, c.table, c.source) for c in ordered[right]]
            right_cols = [c for c in right_cols if c.name not in same]
            overlap = {c.name for c in frame} & {c.name for c in right_cols}
            for col in frame:
                if col.name in overlap:
                    col.name += f"_{left}"
            for col in right_cols:
                if col.name in overlap:
                    col.name += f"_{right}"
            frame += right_cols
    return frame, steps, suffixes


def _merge_image(image_columns: list[str], frame: list[_Col], merge: Sequence[str]) -> list[_Col]:
    """``image_df.merge(sc_df, on=merge_cols, how="right")``: image columns first."""
    keys = {c.name: c for c in frame if c.name in merge}
    left = [keys[name] if name in keys else _Col(name, IMAGE, name) for name in image_columns]
    right = [c for c in frame if c.name not in merge]
    overlap = {c.name for c in left} & {c.name for c in right}
    for col in left:
        if col.name in overlap:
            col.name += "_x"
    for col in right:
        if col.name in overlap:
            col.name += "_y"
    return left + right


def _rename(
    frame: list[_Col], links: dict[str, dict[str, str]], merge: Sequence[str], suffixes: list[str]
) -> list[_Col]:
    """pycytominer's two renames: linking columns, then merge/linking columns with suffixes."""
    linking = [col for rights in links.values() for col in rights.values()]
    first = {col: f"Metadata_{col}" for col in linking}
    second: dict[str, str] = {}
    for name in [*merge, *first]:
        second[name] = f"Metadata_{name}"
    for name in [*merge, *first]:
        for suffix in set(suffixes):
            second[f"{name}{suffix}"] = f"Metadata_{name}{suffix}"
    for col in frame:
        col.name = first.get(col.name, col.name)
        col.name = second.get(col.name, col.name)
    return frame


def _typed(
    frame: list[_Col],
    spec: LinkSpec,
    image: TableInfo,
    tables: dict[str, TableInfo],
    merge: Sequence[str],
) -> list[OutputColumn]:
    out = []
    for col in frame:
        table = image if col.table == IMAGE else tables[col.table]
        kind: Kind
        if col.source in merge:
            kind = "key"
        elif col.name.startswith(("Metadata_", "Image_Metadata_")):
            kind = "metadata"
        elif col.table != IMAGE and is_feature(col.source, spec.compartments):
            kind = "feature"
        else:
            kind = "other"
        dtype = _dtype(col.name, kind, table, col.source)
        out.append(OutputColumn(col.name, col.table, col.source, kind, dtype))
    return out


# ----------------------------------------------------------------------------- join plan

#: Column of every key frame holding the row id (SQLite rowid, or CSV row index).
RID = "__rid"
IMG = "__img"


def rid_column(compartment: str) -> str:
    """Name of the plan column holding the row ids of a compartment."""
    return f"__rid_{compartment}"


def link_key(compartment: str, column: str) -> str:
    """Name of a linking column of a compartment in key frames and plans."""
    return f"__link_{compartment}.{column}"


def merge_key(i: int) -> str:
    """Name of the i-th merge key in key frames and plans."""
    return f"__key{i}"


@dataclass(frozen=True)
class JoinPlan:
    """Which rows of which tables make the output, in output order.

    ``frame`` has one row per output row: ``__rid_<compartment>`` for every
    compartment and ``__img`` (the image-table row, null if the image is missing).
    The counters describe what the join did (for reports).
    """

    frame: pl.DataFrame
    table_rows: dict[str, int]
    dropped: dict[str, int]
    unreferenced: dict[str, int]
    missing_image: int

    @property
    def rows(self) -> int:
        """Number of output rows."""
        return self.frame.height


def normalize_keys(frames: dict[str, pl.DataFrame], n_keys: int) -> dict[str, pl.DataFrame]:
    """Give merge keys one type across tables: Float64 if numeric everywhere, else String."""
    out = dict(frames)
    for i in range(n_keys):
        name = merge_key(i)
        dtypes = [f.schema[name] for f in out.values()]
        numeric = all(d.is_numeric() or d == pl.Null for d in dtypes)
        target: pl.DataType = pl.Float64() if numeric else pl.String()
        for key, frame in out.items():
            column = pl.col(name)
            if not numeric and frame.schema[name] == pl.Float64:
                column = _float_key_text(column)
            out[key] = frame.with_columns(column.cast(target))
    return out


def _float_key_text(column: pl.Expr) -> pl.Expr:
    """Integral floats as integers (``1.0`` → ``"1"``) so text and numeric keys can meet."""
    return (
        pl.when(column == column.round(0))
        .then(column.cast(pl.Int64, strict=False).cast(pl.String))
        .otherwise(column.cast(pl.String))
    )


def _describe(frame: pl.DataFrame, n_keys: int, link: str, merge: Sequence[str]) -> str:
    row = frame.row(0, named=True)
    parts = [f"{merge[i]}={row[merge_key(i)]!r}" for i in range(n_keys)]
    value = row[link]
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return f"{', '.join(parts)}, link value {value!r}"


def plan_join(
    layout: Layout,
    keys: dict[str, pl.DataFrame],
    orphans: Orphans,
    *,
    site: bool = False,
) -> JoinPlan:
    """Join the key frames the way pycytominer merges whole tables.

    Parameters
    ----------
    layout : Layout
    keys : dict
        One frame per compartment and one for :data:`IMAGE`. A compartment frame
        has ``__rid``, the merge keys ``__key0..`` and its linking columns
        (``__link_<compartment>.<column>``, Float64). The image frame has
        ``__img`` (row position) and the merge keys.
    orphans : {"raise", "drop"}
    site : bool
        The tables of one field of view (a CSV site folder): when every compartment
        is empty, the field simply has no cells (an empty plan), as an image without
        objects in a plate's SQLite file.

    Returns
    -------
    JoinPlan

    Raises
    ------
    SourceError
        A table is empty.
    JoinError
        Orphans (with ``orphans="raise"``), or duplicated keys that would
        multiply rows.
    """
    where = layout.where
    merge = layout.merge_columns
    n_keys = len(merge)
    key_names = [merge_key(i) for i in range(n_keys)]
    no_objects = all(frame.height == 0 for comp, frame in keys.items() if comp != IMAGE)
    for comp, frame in keys.items():
        if frame.height == 0 and not (site and no_objects):
            table = layout.table_of(comp)
            msg = f"table {table.name!r} of {where} is empty: there are no single cells to merge"
            raise SourceError(msg)
    keys = normalize_keys(keys, n_keys)
    hub = layout.steps[0].left_table if layout.steps else next(iter(layout.compartments))
    plan = keys[hub].rename({RID: rid_column(hub)})
    dropped: dict[str, int] = {}
    problems: list[str] = []
    for step in layout.steps:
        right = keys[step.right]
        right_link = link_key(step.right, step.right_link)
        left_link = link_key(step.left_table, step.left_link)
        right_table = layout.compartments[step.right].name
        left_table = layout.compartments[step.left_table].name
        on = [*key_names, right_link]
        duplicated = right.filter(pl.struct(on).is_duplicated())
        if duplicated.height:
            example = _describe(duplicated, n_keys, right_link, merge)
            msg = (
                f"table {right_table!r} of {where} has {duplicated.height} rows with duplicated "
                f"({', '.join(merge)}, {step.right_link}) keys (e.g. {example}); the merge "
                "would multiply single cells"
            )
            raise JoinError(msg)
        right = right.rename({RID: rid_column(step.right)})
        right = right.with_columns(pl.col(right_link).alias("__match"))
        plan = plan.join(
            right,
            left_on=[*key_names, left_link],
            right_on=[*key_names, "__match"],
            how="left",
            maintain_order="left",
            nulls_equal=True,
            coalesce=True,
        )
        missing = plan.filter(pl.col(rid_column(step.right)).is_null())
        if missing.height:
            dropped[step.right] = missing.height
            example = _describe(missing, n_keys, left_link, merge)
            problems.append(
                f"{missing.height} of {plan.height} rows of {left_table!r} have no matching row "
                f"in {right_table!r} ({step.left_link} -> {step.right_link}; e.g. {example})"
            )
            plan = plan.filter(pl.col(rid_column(step.right)).is_not_null())
    image = keys[IMAGE]
    duplicated = image.filter(pl.struct(key_names).is_duplicated())
    if duplicated.height:
        row = duplicated.row(0, named=True)
        example = ", ".join(f"{merge[i]}={row[merge_key(i)]!r}" for i in range(n_keys))
        msg = (
            f"image table {layout.image.name!r} of {where} has {duplicated.height} rows with "
            f"duplicated ({', '.join(merge)}) keys (e.g. {example}); the merge would multiply "
            "single cells"
        )
        raise JoinError(msg)
    plan = plan.join(image, on=key_names, how="left", maintain_order="left", nulls_equal=True)
    missing_image = plan.filter(pl.col(IMG).is_null())
    if missing_image.height:
        row = missing_image.row(0, named=True)
        example = ", ".join(f"{merge[i]}={row[merge_key(i)]!r}" for i in range(n_keys))
        problems.append(
            f"{missing_image.height} merged rows have no row in the image table "
            f"{layout.image.name!r} (e.g. {example}); they would get null image columns"
        )
    if problems and orphans == "raise":
        msg = (
            f"orphan objects in {where}: " + "; ".join(problems) + ". pycytominer drops "
            "objects without a parent silently; pass LinkSpec(orphans='drop') "
            "(CLI: cytoplan convert --drop-orphans) to do the same"
        )
        raise JoinError(msg)
    rid_cols = [rid_column(comp) for comp in layout.compartments]
    frame = plan.select([*rid_cols, IMG])
    unreferenced = {}
    for comp in layout.compartments:
        used = frame.get_column(rid_column(comp)).n_unique()
        unreferenced[comp] = keys[comp].height - used
    return JoinPlan(
        frame=frame,
        table_rows={comp: keys[comp].height for comp in keys},
        dropped=dropped,
        unreferenced=unreferenced,
        missing_image=missing_image.height,
    )


# ----------------------------------------------------------------------------- assembly


def gather_index(available: np.ndarray, wanted: np.ndarray) -> np.ndarray | slice:
    """Positions of ``wanted`` row ids in the sorted ``available`` ids (a slice if contiguous)."""
    import numpy as np

    idx = np.searchsorted(available, wanted)
    if idx.size and (idx.max() >= available.size or not np.array_equal(available[idx], wanted)):
        msg = "internal error: a row needed by the merge was not read"
        raise SourceError(msg)
    if idx.size and idx[-1] - idx[0] + 1 == idx.size and np.all(np.diff(idx) == 1):
        return slice(int(idx[0]), int(idx[-1]) + 1)
    return idx


def take(frame: pl.DataFrame, index: np.ndarray | slice) -> pl.DataFrame:
    """Rows of ``frame`` at ``index`` (zero-copy for a slice)."""
    if isinstance(index, slice):
        return frame.slice(index.start, index.stop - index.start)
    return frame.select(pl.all().gather(pl.Series(index, dtype=pl.Int64)))


def assemble(
    plan: pl.DataFrame,
    pieces: Mapping[str, pl.DataFrame],
    image: pl.DataFrame,
    columns: Sequence[OutputColumn],
) -> pl.DataFrame:
    """Build the output rows of a plan slice from the pieces read for it.

    Parameters
    ----------
    plan : DataFrame
        A slice of :attr:`JoinPlan.frame`.
    pieces : dict
        Compartment → frame with ``__rid`` and that compartment's output
        columns (final names and types): either sorted by ``__rid`` (rows are
        picked from it) or exactly in plan order.
    image : DataFrame
        The image output columns, one row per image-table row (``__img`` position).
    columns : sequence of OutputColumn
        The output columns, in output order.
    """
    import numpy as np

    parts = []
    for comp, piece in pieces.items():
        wanted = plan.get_column(rid_column(comp)).to_numpy()
        available = piece.get_column(RID).to_numpy()
        if available.size == wanted.size and np.array_equal(available, wanted):
            parts.append(piece.drop(RID))  # read in plan order already
        else:
            parts.append(take(piece.drop(RID), gather_index(available, wanted)))
    if image.width:
        parts.append(image.select(pl.all().gather(plan.get_column(IMG))))
    if not parts:
        return pl.DataFrame(schema={c.name: c.dtype for c in columns}).clear(plan.height)
    frame = pl.concat(parts, how="horizontal") if len(parts) > 1 else parts[0]
    return frame.select([c.name for c in columns])

"""Annotate profiles with a platemap (and optional external metadata).

pycytominer's ``annotate`` (spec §2.5) as a query plan:

1. platemap columns get the ``Metadata_`` prefix (``add_metadata_prefix=True``);
2. inner join: platemap key ``join_on[0]`` = profile key ``join_on[1]``, keys compared
   as text; a platemap column whose name is also a profile column gets the suffix
   ``_platemap``; the platemap key is dropped when the names differ;
3. optional CMAP columns (``format_broad_cmap``, deprecated in pycytominer);
4. optional external metadata, left-joined on ``external_join_on`` (its columns get the
   ``Metadata_`` prefix except features and ``Image_Metadata_*``; collisions get
   ``_external``);
5. ``clean_cellprofiler``: ``Image_Metadata_Plate/Well/Site`` → ``Metadata_Plate/Well/Site``;
6. all ``Metadata_*`` columns first (platemap-derived ones first), then the rest.

Rows come in platemap order, then profile order within a platemap row
(``order="platemap"``, as pycytominer); ``order="profiles"`` keeps the profiles' own
order and streams, for single-cell tables.

Unlike pycytominer, nothing is lost silently: profile rows without a platemap row, or
that a duplicated platemap key would multiply, raise :class:`~cytoplan.exceptions.JoinError`
naming counts and example keys (``unmatched="drop"`` / ``duplicates="allow"`` accept
them). These checks scan the profile key column once (a small group-by).

Examples
--------
>>> import polars as pl
>>> profiles = pl.LazyFrame({"Metadata_Well": ["A02", "A01"], "Cells_Area": [2.0, 1.0]})
>>> platemap = pl.DataFrame({"well_position": ["A01", "A02"], "treatment": ["dmso", "drug"]})
>>> annotate(profiles, platemap).collect()
shape: (2, 3)
┌────────────────────┬───────────────┬────────────┐
│ Metadata_treatment ┆ Metadata_Well ┆ Cells_Area │
│ ---                ┆ ---           ┆ ---        │
│ str                ┆ str           ┆ f64        │
╞════════════════════╪═══════════════╪════════════╡
│ dmso               ┆ A01           ┆ 1.0        │
│ drug               ┆ A02           ┆ 2.0        │
└────────────────────┴───────────────┴────────────┘
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from typing import Literal

import polars as pl

from cytoplan.exceptions import ColumnNotFoundError, JoinError, ParameterError, SchemaError
from cytoplan.ops._params import check_choice, reject
from cytoplan.schema import METADATA_PREFIX, infer_cp_features, refuse_reserved

__all__ = [
    "CP_CLEAN_RENAMES",
    "annotate",
    "annotate_cmap",
    "cp_clean",
    "prefix_metadata",
    "prepare_external_metadata",
]

#: The only CellProfiler names that ``clean_cellprofiler`` renames (as pycytominer).
CP_CLEAN_RENAMES: dict[str, str] = {
    "Image_Metadata_Plate": "Metadata_Plate",
    "Image_Metadata_Well": "Metadata_Well",
    "Image_Metadata_Site": "Metadata_Site",
}

_KEY = "__cytoplan_key"
_PM_ROW = "__cytoplan_platemap_row"
_PF_ROW = "__cytoplan_profile_row"
_EXAMPLES = 5
_PERTURBATION_MODES = ("none", "chemical", "genetic")
_CMAP_ARGS = ("cell_id", "perturbation_mode")


def _key_text(name: str) -> pl.Expr:
    return pl.col(name).cast(pl.String)


def _examples(values: Sequence[object]) -> str:
    shown = ", ".join(repr(v) for v in values[:_EXAMPLES])
    return shown + (f", ... ({len(values) - _EXAMPLES} more)" if len(values) > _EXAMPLES else "")


def prefix_metadata(frame: pl.LazyFrame) -> pl.LazyFrame:
    """Add ``Metadata_`` to every column name that does not start with it.

    >>> import polars as pl
    >>> lf = pl.LazyFrame({"well": ["A01"], "Metadata_Plate": ["P"]})
    >>> prefix_metadata(lf).collect_schema().names()
    ['Metadata_well', 'Metadata_Plate']
    """
    names = frame.collect_schema().names()
    renames = {n: f"{METADATA_PREFIX}{n}" for n in names if not n.startswith(METADATA_PREFIX)}
    clashes = sorted(set(renames.values()) & set(names))
    if clashes:
        msg = f"adding the Metadata_ prefix would duplicate column(s) {clashes}; rename them first"
        raise SchemaError(msg)
    return frame.rename(renames)


def prepare_external_metadata(frame: pl.LazyFrame) -> pl.LazyFrame:
    """pycytominer's ``prepare_external_metadata_for_annotate``.

    Prefix ``Metadata_`` to every column except ``Metadata_*``, features
    (``Cells*``/``Nuclei*``/``Cytoplasm*``, numeric ``Image*``) and ``Image_Metadata_*``.

    >>> import polars as pl
    >>> frame = pl.LazyFrame({"qc_flag": [True], "Image_Metadata_Well": ["A01"], "Cells_x": [1.0]})
    >>> prepare_external_metadata(frame).collect_schema().names()
    ['Metadata_qc_flag', 'Image_Metadata_Well', 'Cells_x']
    """
    schema = frame.collect_schema()
    protected = {n for n in schema.names() if n.startswith((METADATA_PREFIX, "Image_Metadata_"))}
    with contextlib.suppress(SchemaError):
        protected.update(infer_cp_features(schema, image_features=True))
    renames = {n: f"{METADATA_PREFIX}{n}" for n in schema.names() if n not in protected}
    clashes = sorted(set(renames.values()) & set(schema.names()))
    if clashes:
        msg = f"external metadata: the Metadata_ prefix would duplicate column(s) {clashes}"
        raise SchemaError(msg)
    return frame.rename(renames)


def cp_clean(frame: pl.LazyFrame) -> pl.LazyFrame:
    """Rename ``Image_Metadata_Plate/Well/Site`` to ``Metadata_Plate/Well/Site``.

    Raises :class:`SchemaError` if the new name is already a column (pycytominer would
    produce two columns of the same name).

    >>> import polars as pl
    >>> cp_clean(pl.LazyFrame({"Image_Metadata_Well": ["A01"]})).collect_schema().names()
    ['Metadata_Well']
    """
    names = frame.collect_schema().names()
    renames = {old: new for old, new in CP_CLEAN_RENAMES.items() if old in names}
    clashes = [f"{old} -> {new}" for old, new in renames.items() if new in names]
    if clashes:
        msg = (
            f"clean_cellprofiler would rename onto existing column(s): {', '.join(clashes)}; "
            "drop one of each pair first or pass clean_cellprofiler=False"
        )
        raise SchemaError(msg)
    return frame.rename(renames)


def annotate_cmap(
    frame: pl.LazyFrame,
    *,
    join_on: str,
    cell_id: str = "unknown",
    perturbation_mode: Literal["none", "chemical", "genetic"] = "none",
) -> pl.LazyFrame:
    """pycytominer's ``annotate_cmap``: CMAP columns from ``Metadata_broad_sample``.

    Adds ``Metadata_pert_id`` (``BRD[-N][A-Z0-9]+`` from the broad sample),
    ``Metadata_pert_mfc_id``, ``Metadata_pert_well`` (the ``join_on`` column),
    ``Metadata_pert_id_vendor`` (empty), ``Metadata_pert_mfc_desc``/``Metadata_pert_name``
    (from ``Metadata_pert_iname`` if present), ``Metadata_cell_id`` (if absent),
    ``Metadata_broad_sample_type`` (chemical: ``control`` for DMSO or missing samples,
    ``empty``, else ``trt``; genetic: ``control`` when ``Metadata_pert_name == "EMPTY"``)
    and ``Metadata_pert_type``.

    >>> import polars as pl
    >>> lf = pl.LazyFrame({"Metadata_Well": ["A01"], "Metadata_broad_sample": ["BRD-K123-01"]})
    >>> annotate_cmap(lf, join_on="Metadata_Well").collect()["Metadata_pert_id"].item()
    'BRD-K123'
    """
    check_choice("perturbation_mode", perturbation_mode, _PERTURBATION_MODES)
    names = frame.collect_schema().names()
    if "Metadata_broad_sample" not in names:
        raise ColumnNotFoundError.from_missing(
            ["Metadata_broad_sample"], names, where="the annotated profiles (CMAP formatting)"
        )
    if join_on not in names:
        raise ColumnNotFoundError.from_missing([join_on], names)
    sample = pl.col("Metadata_broad_sample")
    frame = frame.with_columns(
        sample.cast(pl.String).str.extract(r"(BRD[-N][A-Z0-9]+)", 1).alias("Metadata_pert_id"),
        sample.alias("Metadata_pert_mfc_id"),
        pl.col(join_on).alias("Metadata_pert_well"),
        pl.lit("").alias("Metadata_pert_id_vendor"),
    )
    if "Metadata_pert_iname" in names:
        frame = frame.with_columns(
            pl.col("Metadata_pert_iname").alias("Metadata_pert_mfc_desc"),
            pl.col("Metadata_pert_iname").alias("Metadata_pert_name"),
        )
    if "Metadata_cell_id" not in names:
        frame = frame.with_columns(pl.lit(cell_id).alias("Metadata_cell_id"))
    names = frame.collect_schema().names()
    sample_type = pl.col("Metadata_broad_sample_type")
    if perturbation_mode == "chemical":
        control = sample.is_null() | (sample == "DMSO")
        frame = frame.with_columns(
            pl.when(control)
            .then(pl.lit("control"))
            .otherwise(pl.lit("trt"))
            .alias("Metadata_broad_sample_type")
        )
        is_control = sample_type == "control"
        frame = frame.with_columns(
            pl.when(is_control)
            .then(pl.lit("DMSO"))
            .otherwise(sample)
            .alias("Metadata_broad_sample")
        )
        frame = frame.with_columns(
            pl.when(sample == "empty")
            .then(pl.lit("empty"))
            .otherwise(sample_type)
            .alias("Metadata_broad_sample_type")
        )
        schema = frame.collect_schema()
        for dose in ("Metadata_mmoles_per_liter", "Metadata_mg_per_ml"):
            if dose in schema:
                zero = pl.lit(0).cast(schema[dose]) if schema[dose].is_numeric() else pl.lit("0")
                frame = frame.with_columns(
                    pl.when(is_control).then(zero).otherwise(pl.col(dose)).alias(dose)
                )
        if "Metadata_solvent" in schema:
            frame = frame.with_columns(pl.col("Metadata_solvent").alias("Metadata_pert_vehicle"))
    if perturbation_mode == "genetic" and "Metadata_pert_name" in names:
        control = pl.col("Metadata_pert_name") == "EMPTY"
        frame = frame.with_columns(
            pl.when(control.fill_null(value=False))
            .then(pl.lit("control"))
            .otherwise(pl.lit("trt"))
            .alias("Metadata_broad_sample_type")
        )
    if "Metadata_broad_sample_type" in frame.collect_schema():
        return frame.with_columns(sample_type.alias("Metadata_pert_type"))
    return frame.with_columns(
        pl.lit("").alias("Metadata_pert_type"), pl.lit("").alias("Metadata_broad_sample_type")
    )


def _join_keys(join_on: str | Sequence[str]) -> tuple[str, str]:
    if isinstance(join_on, str):
        return join_on, join_on
    keys = list(join_on) if isinstance(join_on, Sequence) else [join_on]
    if len(keys) != 2 or not all(isinstance(key, str) for key in keys):
        reject(
            "join_on",
            join_on,
            "a column name or [platemap column, profile column]",
            hint="e.g. ['Metadata_well_position', 'Metadata_Well']",
        )
    return keys[0], keys[1]


def _check_platemap_join(
    key_counts: pl.DataFrame,
    platemap_keys: pl.DataFrame,
    *,
    profile_key: str,
    platemap_key: str,
    unmatched: str,
    duplicates: str,
) -> None:
    """Raise JoinError for profile keys without a platemap row or with several."""
    multiplicity = platemap_keys.group_by(_KEY).len(name="copies")
    joined = key_counts.join(multiplicity, on=_KEY, how="left").sort(_KEY, nulls_last=True)
    if unmatched == "raise":
        lost = joined.filter(pl.col("copies").is_null())
        if lost.height:
            msg = (
                f"{lost['rows'].sum()} profile row(s) with {lost.height} value(s) of "
                f"{profile_key!r} have no row in the platemap (column {platemap_key!r}): "
                f"{_examples(lost[_KEY].to_list())}; fix the platemap or join_on, or pass "
                "unmatched='drop' (CLI: --allow-unmatched) to drop them"
            )
            raise JoinError(msg)
    if duplicates == "raise":
        multiplied = joined.filter(pl.col("copies") > 1)
        if multiplied.height:
            msg = (
                f"{multiplied['rows'].sum()} profile row(s) would be repeated: "
                f"{multiplied.height} value(s) of {platemap_key!r} appear more than once in "
                f"the platemap: {_examples(multiplied[_KEY].to_list())}; de-duplicate the "
                "platemap or pass duplicates='allow' (CLI: --allow-duplicates)"
            )
            raise JoinError(msg)


def annotate(
    lf: pl.LazyFrame,
    platemap: pl.LazyFrame | pl.DataFrame,
    *,
    join_on: str | Sequence[str] = ("Metadata_well_position", "Metadata_Well"),
    add_metadata_prefix: bool = True,
    external_metadata: pl.LazyFrame | pl.DataFrame | None = None,
    external_join_on: str | Sequence[str] | None = None,
    clean_cellprofiler: bool = True,
    format_broad_cmap: bool = False,
    cmap_args: Mapping[str, str] | None = None,
    unmatched: Literal["raise", "drop"] = "raise",
    duplicates: Literal["raise", "allow"] = "raise",
    order: Literal["platemap", "profiles"] = "platemap",
) -> pl.LazyFrame:
    """Join a platemap (and optional external metadata) onto profiles.

    Parameters
    ----------
    lf
        Profiles (wells or single cells).
    platemap
        The platemap table (small; read it with :mod:`cytoplan.io`).
    join_on
        ``[platemap column, profile column]`` (names after the prefix is added), or one
        name used on both sides. Values are compared as text.
    add_metadata_prefix
        Prefix ``Metadata_`` to platemap columns that lack it.
    external_metadata, external_join_on
        A table left-joined on ``external_join_on`` (same names on both sides); give
        both or neither. Exact duplicate rows of the table are dropped first.
    clean_cellprofiler
        Rename ``Image_Metadata_Plate/Well/Site`` to ``Metadata_Plate/Well/Site``.
    format_broad_cmap, cmap_args
        Add CMAP columns (:func:`annotate_cmap`; ``cmap_args`` may hold ``cell_id`` and
        ``perturbation_mode``).
    unmatched
        ``"raise"`` (default): profile rows without a platemap row raise
        :class:`JoinError`; ``"drop"``: drop them (pycytominer's silent behaviour).
    duplicates
        ``"raise"`` (default): a key repeated in the platemap (or, after removing exact
        duplicate rows, in the external metadata) that would repeat profile rows raises
        :class:`JoinError`; ``"allow"``: repeat them.
    order
        ``"platemap"``: platemap row order, then profile order (pycytominer);
        ``"profiles"``: the profiles' order (streams; use it for single cells).

    Returns
    -------
    pl.LazyFrame
        ``Metadata_*`` columns first (platemap-derived first), then the other columns.

    Raises
    ------
    ColumnNotFoundError
        A join column is missing.
    JoinError
        Unmatched or multiplied profile rows (see ``unmatched`` and ``duplicates``).
    SchemaError
        Renaming would duplicate a column, or no ``Metadata_`` column is left.
    ParameterError
        A bad argument: ``join_on`` not one name or a pair, an unknown ``unmatched``,
        ``duplicates``, ``order`` or ``cmap_args`` key, ``external_metadata`` without
        ``external_join_on`` (or the reverse).

    Examples
    --------
    >>> import polars as pl
    >>> profiles = pl.LazyFrame({"Metadata_Well": ["A01", "B01"], "Cells_x": [1.0, 2.0]})
    >>> platemap = pl.DataFrame({"well_position": ["A01"], "pert": ["dmso"]})
    >>> annotate(profiles, platemap)  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    cytoplan.exceptions.JoinError: 1 profile row(s) with 1 value(s) of 'Metadata_Well' ...
    >>> annotate(profiles, platemap, unmatched="drop").collect().rows()
    [('dmso', 'A01', 1.0)]
    """
    check_choice("unmatched", unmatched, ("raise", "drop"), where="annotate")
    check_choice("duplicates", duplicates, ("raise", "allow"), where="annotate")
    check_choice("order", order, ("platemap", "profiles"), where="annotate")
    if (external_metadata is None) != (external_join_on is None):
        given, missing = (
            ("external_metadata", "external_join_on")
            if external_join_on is None
            else ("external_join_on", "external_metadata")
        )
        msg = (
            f"annotate: {missing} must be given with {given} (give both or neither), "
            f"got {missing}=None"
        )
        raise ParameterError(msg)
    if format_broad_cmap:
        unknown = sorted(set(cmap_args or {}) - set(_CMAP_ARGS))
        if unknown:
            reject(
                "cmap_args",
                dict(cmap_args or {}),
                f"a mapping with keys among {list(_CMAP_ARGS)}",
                where="annotate",
                hint=f"unknown key(s) {unknown}",
            )
    pm_key, pf_key = _join_keys(join_on)

    plate = platemap.lazy()
    if add_metadata_prefix:
        plate = prefix_metadata(plate)
    pm_names = plate.collect_schema().names()
    if pm_key not in pm_names:
        prefixed = f"{METADATA_PREFIX}{pm_key}"
        if add_metadata_prefix and prefixed in pm_names:
            pm_key = prefixed
        else:
            raise ColumnNotFoundError.from_missing([pm_key], pm_names, where="the platemap")
    pf_schema = lf.collect_schema()
    refuse_reserved(pf_schema)
    refuse_reserved(plate)
    pf_names = pf_schema.names()
    if pf_key not in pf_names:
        raise ColumnNotFoundError.from_missing([pf_key], pf_names, where="the profiles")
    reserved = {_KEY, _PM_ROW, _PF_ROW} & (set(pm_names) | set(pf_names))
    if reserved:
        msg = f"column name(s) {sorted(reserved)} are reserved by cytoplan; rename them"
        raise SchemaError(msg)

    # platemap columns that collide with profile columns get "_platemap"
    renames = {
        name: f"{name}_platemap" for name in pm_names if name in pf_schema and name != pm_key
    }
    plate = plate.rename(renames).with_columns(_key_text(pm_key).alias(_KEY))
    plate_columns = [renames.get(name, name) for name in pm_names]

    if unmatched == "raise" or duplicates == "raise":
        key_counts = (
            lf.select(_key_text(pf_key).alias(_KEY))
            .group_by(_KEY)
            .len(name="rows")
            .collect(engine="streaming")
        )
        _check_platemap_join(
            key_counts,
            plate.select(_KEY).collect(),
            profile_key=pf_key,
            platemap_key=pm_key,
            unmatched=unmatched,
            duplicates=duplicates,
        )

    # pandas keeps one key column where the names agree (at the platemap's position)
    # and drops the platemap key where they differ; the profile's key values are kept
    if pm_key == pf_key:
        leading = [pf_key if name == pm_key else name for name in plate_columns]
        trailing = [name for name in pf_names if name != pf_key]
    else:
        leading = [name for name in plate_columns if name != pm_key]
        trailing = pf_names
    plate = plate.drop(pm_key)
    profiles = lf.with_columns(_key_text(pf_key).alias(_KEY))
    if order == "platemap":
        joined = (
            plate.with_row_index(_PM_ROW)
            .join(profiles.with_row_index(_PF_ROW), on=_KEY, how="inner")
            .sort(_PM_ROW, _PF_ROW)
        )
    else:
        joined = profiles.join(plate, on=_KEY, how="inner", maintain_order="left")
    annotated = joined.select(*leading, *trailing)

    if format_broad_cmap:
        args = dict(cmap_args or {})
        annotated = annotate_cmap(
            annotated,
            join_on=pf_key,
            cell_id=args.get("cell_id", "unknown"),
            perturbation_mode=args.get("perturbation_mode", "none"),  # type: ignore[arg-type]
        )

    if external_metadata is not None and external_join_on is not None:
        annotated = _join_external(
            annotated, external_metadata.lazy(), external_join_on, duplicates=duplicates
        )

    if clean_cellprofiler:
        annotated = cp_clean(annotated)

    names = annotated.collect_schema().names()
    meta = [name for name in names if name.startswith(METADATA_PREFIX)]
    if not meta:
        msg = "the annotated profiles have no Metadata_ column; keep add_metadata_prefix=True"
        raise SchemaError(msg)
    return annotated.select(*meta, *(name for name in names if name not in meta))


def _join_external(
    annotated: pl.LazyFrame,
    external: pl.LazyFrame,
    external_join_on: str | Sequence[str],
    *,
    duplicates: str,
) -> pl.LazyFrame:
    keys = [external_join_on] if isinstance(external_join_on, str) else list(external_join_on)
    if not keys or not all(isinstance(key, str) for key in keys):
        reject(
            "external_join_on",
            external_join_on,
            "a column name or a non-empty list of column names shared with the profiles",
        )
    external = prepare_external_metadata(external)
    ext_names = external.collect_schema().names()
    names = annotated.collect_schema().names()
    for where, available in (("the external metadata", ext_names), ("the profiles", names)):
        missing = [key for key in keys if key not in available]
        if missing:
            raise ColumnNotFoundError.from_missing(missing, available, where=where)
    key_exprs = [_key_text(key).alias(f"{_KEY}{i}") for i, key in enumerate(keys)]
    text_keys = [f"{_KEY}{i}" for i in range(len(keys))]
    external = external.unique(maintain_order=True)
    if duplicates == "raise":
        repeated = (
            external.select(key_exprs)
            .group_by(text_keys)
            .len(name="copies")
            .filter(pl.col("copies") > 1)
            .collect()
        )
        if repeated.height:
            examples = [tuple(row) for row in repeated.select(text_keys).rows()]
            msg = (
                f"{repeated.height} key(s) {keys} appear more than once in the external "
                f"metadata with different values: {_examples(examples)}; the join would "
                "repeat profile rows. De-duplicate it or pass duplicates='allow' "
                "(CLI: --allow-duplicates)"
            )
            raise JoinError(msg)
    renames = {name: f"{name}_external" for name in ext_names if name in names and name not in keys}
    external = external.rename(renames).with_columns(key_exprs).drop(keys)
    ext_columns = [renames.get(name, name) for name in ext_names if name not in keys]
    joined = annotated.with_columns(key_exprs).join(
        external, on=text_keys, how="left", maintain_order="left"
    )
    return joined.select(*names, *ext_columns)

"""Column roles, decided from a table's schema alone (no data are scanned).

A profile table has three kinds of columns:

* **metadata** — names starting with ``Metadata_`` (always strings in cytoplan);
* **features** — numeric measurements, by default those whose name starts with a
  compartment prefix (``Cells_``, ``Cytoplasm_``, ``Nuclei_``; optionally
  ``Image_``), or any explicit list (e.g. DeepProfiler ``efficientnet_*``). The
  operations refuse a compartment column that is not numeric
  (:func:`feature_columns`) rather than leave a feature out; :func:`column_roles`,
  which only describes a table, lists it under *other*;
* **other** — everything else (``ImageNumber``, ``Image_Metadata_*`` text, ...).

The core API chooses columns with the selectors below. :func:`infer_cp_features`
reproduces pycytominer's ``infer_cp_features`` rule for rule, for the compat layer
and for users who want that exact behaviour (see docs/parity.md).

Examples
--------
>>> import polars as pl
>>> lf = pl.LazyFrame(
...     {"Metadata_Well": ["A01"], "Cells_Area": [1.0], "Nuclei_Text": ["x"], "ImageNumber": [1]}
... )
>>> roles = column_roles(lf)
>>> roles.metadata, roles.features, roles.other
(['Metadata_Well'], ['Cells_Area'], ['Nuclei_Text', 'ImageNumber'])
>>> resolve_columns(lf, compartment("Cells") | metadata())
['Metadata_Well', 'Cells_Area']
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import polars as pl
import polars.selectors as cs

from cytoplan.exceptions import ColumnNotFoundError, ParameterError, SchemaError

if TYPE_CHECKING:
    from polars.selectors import Selector

__all__ = [
    "CANONICAL_COMPARTMENTS",
    "METADATA_PREFIX",
    "RESERVED_PREFIX",
    "ColumnRoles",
    "column_roles",
    "compartment",
    "feature_columns",
    "features",
    "image_features",
    "infer_cp_features",
    "metadata",
    "metadata_columns",
    "refuse_reserved",
    "repeated_names",
    "require_columns",
    "require_numeric",
    "require_summary_columns",
    "resolve_columns",
    "schema_of",
]

CANONICAL_COMPARTMENTS: tuple[str, ...] = ("Cells", "Cytoplasm", "Nuclei")
METADATA_PREFIX = "Metadata_"

_NESTED = (pl.List, pl.Array, pl.Struct, pl.Object)


def schema_of(frame: pl.LazyFrame | pl.DataFrame | pl.Schema) -> pl.Schema:
    """The schema of a frame, without scanning data."""
    if isinstance(frame, pl.Schema):
        return frame
    if isinstance(frame, pl.LazyFrame):
        return frame.collect_schema()
    return frame.schema


def compartment(*names: str) -> Selector:
    """Numeric columns of one or more compartments, e.g. ``compartment("Cells")``.

    Works for non-canonical compartments too (``compartment("Speckles")``).
    """
    prefixes = tuple(f"{name}_" for name in names)
    return cs.starts_with(*prefixes) & cs.numeric()


def features(compartments: Iterable[str] = CANONICAL_COMPARTMENTS) -> Selector:
    """The default feature selector: numeric columns with a compartment prefix."""
    return compartment(*compartments)


def image_features() -> Selector:
    """Numeric image-level measurements (``Image_*``)."""
    return cs.starts_with("Image_") & cs.numeric()


def metadata() -> Selector:
    """Metadata columns (``Metadata_*``)."""
    return cs.starts_with(METADATA_PREFIX)


def resolve_columns(
    frame: pl.LazyFrame | pl.DataFrame | pl.Schema,
    spec: Selector | Sequence[str],
) -> list[str]:
    """Turn a selector or a list of names into column names, in schema order for selectors.

    A list is checked against the schema and returned in the order given.
    """
    schema = schema_of(frame)
    if isinstance(spec, str):
        spec = [spec]
    if isinstance(spec, Sequence):
        names = list(spec)
        require_columns(schema, names)
        return names
    return list(cs.expand_selector(schema, spec))


def feature_columns(
    frame: pl.LazyFrame | pl.DataFrame | pl.Schema,
    spec: Selector | Sequence[str] | None = None,
    *,
    compartments: Iterable[str] = CANONICAL_COMPARTMENTS,
    include_image: bool = False,
    strict: bool = True,
) -> list[str]:
    """Feature column names of a table; raises if there are none or one is not numeric.

    By default (``spec=None``) the features are the numeric compartment columns, and
    a compartment column that is not numeric raises too, unless ``strict=False``
    (then it is not a feature).
    """
    schema = schema_of(frame)
    if spec is None:
        if strict:  # a text compartment column is a feature pycytominer takes: never skip it
            prefixes = tuple(f"{name}_" for name in compartments)
            require_numeric(schema, [n for n in schema.names() if n.startswith(prefixes)])
        selector = features(compartments)
        if include_image:
            selector = selector | image_features()
        spec = selector
    names = resolve_columns(schema, spec)
    if not names:
        msg = (
            "no feature columns found: expected numeric columns starting with "
            f"{', '.join(f'{c}_' for c in compartments)}; "
            "name them with features=[...] (CLI: --features)"
        )
        raise SchemaError(msg)
    require_numeric(schema, names)
    return names


def metadata_columns(frame: pl.LazyFrame | pl.DataFrame | pl.Schema) -> list[str]:
    """Names of the ``Metadata_*`` columns, in schema order."""
    return [name for name in schema_of(frame).names() if name.startswith(METADATA_PREFIX)]


@dataclass(frozen=True)
class ColumnRoles:
    """The role of every column of a table."""

    metadata: list[str]
    features: list[str]
    other: list[str]


def column_roles(
    frame: pl.LazyFrame | pl.DataFrame | pl.Schema,
    features: Selector | Sequence[str] | None = None,
    *,
    compartments: Iterable[str] = CANONICAL_COMPARTMENTS,
    include_image: bool = False,
) -> ColumnRoles:
    """Split the columns of a table into metadata, features and other."""
    schema = schema_of(frame)
    meta = metadata_columns(schema)
    feats = feature_columns(
        schema, features, compartments=compartments, include_image=include_image, strict=False
    )
    taken = set(meta) | set(feats)
    other = [name for name in schema.names() if name not in taken]
    return ColumnRoles(metadata=meta, features=feats, other=other)


def require_columns(frame: pl.LazyFrame | pl.DataFrame | pl.Schema, names: Iterable[str]) -> None:
    """Raise :class:`ColumnNotFoundError` unless every name is a column."""
    schema = schema_of(frame)
    missing = [name for name in names if name not in schema]
    if missing:
        raise ColumnNotFoundError.from_missing(missing, schema.names())


def require_numeric(frame: pl.LazyFrame | pl.DataFrame | pl.Schema, names: Iterable[str]) -> None:
    """Raise :class:`SchemaError` naming every listed column that is not numeric."""
    schema = schema_of(frame)
    bad = [f"{name} ({schema[name]})" for name in names if not schema[name].is_numeric()]
    if bad:
        more = f" and {len(bad) - 5} more" if len(bad) > 5 else ""
        msg = (
            f"feature column(s) are not numeric: {', '.join(bad[:5])}{more}; "
            "fix or cast them, or name the features to use explicitly"
        )
        raise SchemaError(msg)


#: Prefix of the temporary columns cytoplan adds inside its plans.
RESERVED_PREFIX = "__cytoplan"


def refuse_reserved(frame: pl.LazyFrame | pl.DataFrame | pl.Schema) -> None:
    """Raise :class:`SchemaError` if a column name starts with ``__cytoplan``.

    cytoplan's plans add temporary columns of that prefix (group indices, row
    numbers); an input column of such a name would be overwritten or clash.

    >>> refuse_reserved(pl.Schema({"Cells_x": pl.Float64}))
    >>> refuse_reserved(pl.Schema({"__cytoplan_group": pl.String}))
    Traceback (most recent call last):
    ...
    cytoplan.exceptions.SchemaError: column name(s) ['__cytoplan_group'] start with ...
    """
    reserved = [name for name in schema_of(frame).names() if name.startswith(RESERVED_PREFIX)]
    if reserved:
        msg = (
            f"column name(s) {reserved} start with {RESERVED_PREFIX!r}, which cytoplan "
            "reserves for its temporary columns; rename them"
        )
        raise SchemaError(msg)


def repeated_names(names: Iterable[str]) -> list[str]:
    """The names given more than once, sorted (empty when all are distinct).

    >>> repeated_names(["b", "a", "b", "c", "a"])
    ['a', 'b']
    """
    return sorted(name for name, times in Counter(names).items() if times > 1)


def require_summary_columns(
    frame: pl.LazyFrame | pl.DataFrame | pl.Schema, names: Sequence[str], keys: Sequence[str]
) -> None:
    """Check columns to summarise per group: given once, present, numeric, not group keys.

    >>> require_summary_columns(pl.Schema({"p": pl.String, "x": pl.Float64}), ["x"], ["p"])
    >>> require_summary_columns(pl.Schema({"p": pl.String, "x": pl.Float64}), ["x", "x"], ["p"])
    Traceback (most recent call last):
    cytoplan.exceptions.ParameterError: columns are repeated (['x']); pass each column once
    """
    repeated = repeated_names(names)
    if repeated:
        msg = f"columns are repeated ({repeated}); pass each column once"
        raise ParameterError(msg)
    schema = schema_of(frame)
    require_columns(schema, [*keys, *names])
    require_numeric(schema, names)
    overlap = set(keys) & set(names)
    if overlap:
        msg = f"column(s) {sorted(overlap)} are both group keys and statistics columns"
        raise ParameterError(msg)


def infer_cp_features(
    frame: pl.LazyFrame | pl.DataFrame | pl.Schema,
    compartments: str | Sequence[str] = ("Cells", "Nuclei", "Cytoplasm"),
    *,
    metadata: bool = False,
    image_features: bool = False,
) -> list[str]:
    """pycytominer 1.7.1's ``infer_cp_features``, rule for rule.

    * compartments are ``str.title()``-ed (``"ER_Bodies"`` becomes ``"Er_Bodies"``);
    * a column is kept when its name starts with a compartment **without** requiring
      an underscore (``CellsFoo`` matches; ``ImageNumber`` matches with image features);
    * nested columns (lists, structs) are skipped; non-numeric ``Image_*`` columns are
      skipped; other non-numeric columns are kept (pycytominer keeps them and fails later);
    * ``metadata=True`` returns every ``Metadata_*`` column instead;
    * an empty result raises.

    >>> import polars as pl
    >>> infer_cp_features(pl.Schema({"CellsFoo": pl.Float64, "Nuclei_A": pl.Float64}))
    ['CellsFoo', 'Nuclei_A']
    """
    schema = schema_of(frame)
    if isinstance(compartments, str):
        compartments = [compartments]
    prefixes = {name.title() for name in compartments}
    if image_features:
        prefixes.add("Image")
    if metadata:
        found = metadata_columns(schema)
    else:
        found = []
        for name, dtype in schema.items():
            if not name.startswith(tuple(prefixes)):
                continue
            if isinstance(dtype, _NESTED):
                continue
            if name.startswith("Image_") and not dtype.is_numeric():
                continue
            found.append(name)
    if not found:
        msg = "No features or metadata found. Pass a list of feature names explicitly."
        raise SchemaError(msg)
    return found

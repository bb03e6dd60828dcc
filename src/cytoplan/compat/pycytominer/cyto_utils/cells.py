"""pycytominer's ``cyto_utils.cells.SingleCells`` (deprecated there; kept for old scripts).

Merging single cells runs :func:`cytoplan.io.sqlite.scan_cellprofiler_sqlite` (the
streaming, key-level join with pycytominer's column naming and order);
aggregation loads one compartment at a time and runs cytoplan's ``aggregate``.
"""

from __future__ import annotations

import contextlib
import sqlite3
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cytoplan.compat.pycytominer._frames import pycytominer_errors
from cytoplan.compat.pycytominer.cyto_utils.cp_image_features import (
    aggregate_fields_count,
    aggregate_image_features,
)
from cytoplan.compat.pycytominer.cyto_utils.features import infer_cp_features
from cytoplan.compat.pycytominer.cyto_utils.output import output
from cytoplan.compat.pycytominer.cyto_utils.single_cell_ingest_utils import (
    assert_linking_cols_complete,
    get_default_linking_cols,
    provide_linking_cols_feature_name_update,
)
from cytoplan.compat.pycytominer.cyto_utils.util import (
    check_aggregate_operation,
    check_compartments,
    check_fields_of_view,
    check_fields_of_view_format,
    extract_image_features,
    get_default_compartments,
)
from cytoplan.io._sqlite_catalog import quote, read_only_uri

__all__ = ["SingleCells"]


def __getattr__(name: str) -> Any:
    """pycytominer's ``cells`` module exposes the pipeline functions (imported lazily here)."""
    if name in ("aggregate", "annotate", "normalize"):
        import importlib

        module = importlib.import_module(f"cytoplan.compat.pycytominer.{name}")
        return getattr(module, name)
    raise AttributeError(name)


#: the strata chunk (pycytominer's ``n_aggregation_memory_strata``) a cell was read in
_CHUNK = "__compat_memory_stratum__"


def _check_memory_strata(n: Any) -> None:
    """Reject ``n_aggregation_memory_strata`` as pycytominer does.

    Not > 0: ``ValueError``; not an integer (``2.0``, ``"2"``): the ``TypeError``
    pycytominer's comparison or chunking (``range(0, len, n)``) raises.
    """
    if not (n > 0):
        msg = (
            "Number of strata to pull into memory at once (n_aggregation_memory_strata) must be > 0"
        )
        raise ValueError(msg)
    range(0, 1, n)


def _sqlite_path(sql_file: str) -> Path:
    text = str(sql_file)
    if text.startswith("sqlite:///"):
        text = text[len("sqlite:///") :]
    return Path(text)


class SingleCells:
    """Single cells of a CellProfiler SQLite file: merge, count, subsample, aggregate.

    ``sql_file`` is a SQLAlchemy-style URL (``sqlite:///path``) or a path.
    """

    def __init__(
        self,
        sql_file: str,
        strata: list[str] = ["Metadata_Plate", "Metadata_Well"],  # noqa: B006
        aggregation_operation: str = "median",
        output_file: str | None = None,
        compartments: list[str] | None = None,
        compartment_linking_cols: dict[str, dict[str, str]] | None = None,
        merge_cols: list[str] = ["TableNumber", "ImageNumber"],  # noqa: B006
        image_cols: list[str] = ["TableNumber", "ImageNumber", "Metadata_Site"],  # noqa: B006
        add_image_features: bool = False,
        image_feature_categories: list[str] | None = None,
        features: str | list[str] = "infer",
        load_image_data: bool = True,
        image_table_name: str = "image",
        subsample_frac: float = 1.0,
        subsample_n: str | int = "all",
        subsampling_random_state: int | None = None,
        fields_of_view: str | list[int] = "all",
        fields_of_view_feature: str = "Metadata_Site",
        object_feature: str = "Metadata_ObjectNumber",
        default_datatype_float: type[np.generic] = np.float64,
    ) -> None:
        warnings.warn(
            "The SingleCells class is deprecated and will be removed in a future Pycytominer "
            "release. Please use CytoTable instead: https://github.com/cytomining/CytoTable",
            DeprecationWarning,
            stacklevel=2,
        )
        compartments = compartments if compartments is not None else get_default_compartments()
        linking = (
            compartment_linking_cols
            if compartment_linking_cols is not None
            else get_default_linking_cols()
        )
        check_compartments(compartments)
        self.aggregation_operation = check_aggregate_operation(aggregation_operation)
        assert_linking_cols_complete(linking_cols=linking, compartments=compartments)
        self.sql_file = sql_file
        self.path = _sqlite_path(sql_file)
        self.strata = strata
        self.output_file = output_file
        self.compartments = compartments
        self.compartment_linking_cols = linking
        self.merge_cols = merge_cols
        self.image_cols = image_cols
        self.add_image_features = add_image_features
        self.image_feature_categories = image_feature_categories
        self.features = features
        self.image_table_name = image_table_name
        self.fields_of_view = check_fields_of_view_format(fields_of_view)
        self.fields_of_view_feature = fields_of_view_feature
        self.object_feature = object_feature
        self.default_datatype_float = default_datatype_float
        self.subsample_frac = subsample_frac
        self.subsample_n = subsample_n
        self.subset_data_df: pd.DataFrame | None = None
        self.subsampling_random_state = subsampling_random_state
        self.is_aggregated = False
        self.is_subset_computed = False
        self.image_data_loaded = False
        self.linking_col_rename = provide_linking_cols_feature_name_update(linking)
        if self.subsample_n != "all":
            self.set_subsample_n(self.subsample_n)
        if subsample_frac <= 0:
            msg = "subsample_frac must be between 0 and 1"
            raise ValueError(msg)
        if self.subsample_frac != 1 and self.subsample_n != "all":
            msg = "Do not set both subsample_frac and subsample_n"
            raise ValueError(msg)
        if load_image_data:
            self.load_image(image_table_name=image_table_name)

    # -------------------------------------------------------------- settings
    def set_output_file(self, output_file: str) -> None:
        """Set the aggregation output file."""
        self.output_file = output_file

    def set_subsample_frac(self, subsample_frac: float) -> None:
        """Set the fraction of cells sampled per stratum."""
        self.subsample_frac = subsample_frac

    def set_subsample_n(self, subsample_n: str | int) -> None:
        """Set the number of cells sampled per stratum (an int)."""
        try:
            self.subsample_n = int(subsample_n)
        except ValueError:
            msg = "subsample n must be an integer or coercable"
            raise ValueError(msg) from None

    def set_subsample_random_state(self, random_state: int) -> None:
        """Set the sampling seed."""
        self.subsampling_random_state = random_state

    # -------------------------------------------------------------- sql helpers
    def _query(self, sql: str) -> pd.DataFrame:
        with sqlite3.connect(read_only_uri(self.path), uri=True) as con:
            return pd.read_sql_query(sql, con)

    def count_sql_table_rows(self, table: str) -> int:
        """Row count of a table."""
        return int(self._query(f"SELECT COUNT(*) AS n FROM {quote(table)}")["n"].iloc[0])

    def get_sql_table_col_names(self, table: str) -> list[str]:
        """Column names of a table (pycytominer reads them from ``SELECT * ... LIMIT 1``)."""
        with sqlite3.connect(read_only_uri(self.path), uri=True) as con:
            cursor = con.execute(f"SELECT * FROM {quote(table)} LIMIT 1")
            return [item[0] for item in cursor.description]

    def split_column_categories(self, col_names: list[str]) -> tuple[list[str], list[str]]:
        """Features: names starting (case-insensitively) with a compartment; the rest: metadata."""
        features = [c for c in col_names if c.lower().startswith(tuple(self.compartments))]
        meta = [c for c in col_names if c not in features]
        return meta, features

    # -------------------------------------------------------------- loading
    def load_image(self, image_table_name: str | None = None) -> None:
        """Load the image table (sorted union of ``image_cols`` and ``strata``)."""
        table = image_table_name or self.image_table_name
        self.image_df = self._query(f"select * from {quote(table)}")
        if self.add_image_features:
            if self.image_feature_categories is None:
                msg = "If add_image_features is True, image_feature_categories must be specified"
                raise ValueError(msg)
            self.image_features_df = extract_image_features(
                self.image_feature_categories, self.image_df, self.image_cols, self.strata
            )
        self.image_df = self.image_df[list(np.union1d(self.image_cols, self.strata))]
        if self.fields_of_view != "all":
            fovs = [int(x) for x in self.fields_of_view]
            check_fields_of_view(list(np.unique(self.image_df[self.fields_of_view_feature])), fovs)
            keep = self.image_df[self.fields_of_view_feature].isin(fovs)
            self.image_df = self.image_df[keep]
            if self.add_image_features:
                keep = self.image_features_df[self.fields_of_view_feature].isin(fovs)
                self.image_features_df = self.image_features_df[keep]
        self.image_data_loaded = True

    def load_compartment(self, compartment: str) -> pd.DataFrame:
        """A compartment table: metadata columns (as stored) then features as floats."""
        meta, features = self.split_column_categories(self.get_sql_table_col_names(compartment))
        if isinstance(self.features, list):
            features = [f for f in features if f in self.features]
        names = ", ".join(quote(c) for c in [*meta, *features])
        frame = self._query(f"SELECT {names} FROM {quote(compartment)}")
        frame[features] = (
            frame[features]
            .apply(pd.to_numeric, errors="coerce")
            .astype(self.default_datatype_float)
        )
        return frame

    def count_cells(
        self,
        compartment: str = "cells",
        merge_cols: list[str] = ["TableNumber", "ImageNumber"],  # noqa: B006
        object_col: str = "ObjectNumber",
        image_count_col: str = "Count_Cells",
        count_subset: bool = False,
    ) -> pd.DataFrame:
        """Cells per stratum (``cell_count``), as pycytominer 1.7.1 counts them.

        In order of preference: the sum per stratum of ``image_count_col`` when the
        loaded image columns hold it; else the sum of that column read from the image
        table (joined on the class's ``merge_cols``) when the table has it, whatever
        ``compartment`` is; else the number of ``object_col`` values of
        ``compartment`` per stratum (joined on ``merge_cols``). ``count_subset``
        counts the subsampled cells (``object_feature`` values) instead.
        Strata with a missing key are left out (pandas' ``groupby``).
        """
        check_compartments([compartment])
        if count_subset:
            if not self.is_aggregated:
                msg = "Make sure to aggregate_profiles() first!"
                raise RuntimeError(msg)
            if not self.is_subset_computed:
                msg = "Make sure to get_subsample() first!"
                raise RuntimeError(msg)
            if self.subset_data_df is None:
                msg = "count_cells() did not set subset_data_df"
                raise RuntimeError(msg)
            return self._per_stratum(self.subset_data_df, self.object_feature, "count")
        if image_count_col in self.image_df.columns:
            return self._per_stratum(self.image_df, image_count_col, "sum")
        if image_count_col in self.get_sql_table_col_names(self.image_table_name):
            columns = ", ".join(quote(c) for c in [*self.merge_cols, image_count_col])
            counts = self._query(f"SELECT {columns} FROM {quote(self.image_table_name)}")
            merged = self.image_df.merge(counts, how="inner", on=self.merge_cols)
            return self._per_stratum(merged, image_count_col, "sum")
        if len(merge_cols) < 1:
            msg = "merge_cols must include at least one merge column."
            raise ValueError(msg)
        if not object_col:
            msg = "object_col must be a non-empty column name."
            raise ValueError(msg)
        objects = self._query(
            f"SELECT {', '.join(quote(c) for c in [*merge_cols, object_col])} "
            f"FROM {quote(compartment)}"
        )
        merged = self.image_df.merge(objects, how="inner", on=merge_cols)
        return self._per_stratum(merged, object_col, "count")

    def _per_stratum(self, frame: pd.DataFrame, column: str, how: str) -> pd.DataFrame:
        """``column`` counted or summed per stratum, renamed ``cell_count``."""
        grouped = frame.groupby(self.strata)[column]
        values = grouped.count() if how == "count" else grouped.sum()
        return values.reset_index().rename({column: "cell_count"}, axis="columns")

    # -------------------------------------------------------------- subsampling
    def subsample_profiles(self, df: pd.DataFrame, rename_col: bool = True) -> pd.DataFrame:
        """Sample one stratum's cells (``subsample_n`` with replacement, or ``subsample_frac``)."""
        if self.subsampling_random_state is None:
            self.set_subsample_random_state(int(np.random.randint(0, 10000)))
        if self.subsample_frac == 1:
            out = df.sample(
                n=int(self.subsample_n),
                replace=True,
                random_state=self.subsampling_random_state,
            )
        else:
            out = df.sample(frac=self.subsample_frac, random_state=self.subsampling_random_state)
        if rename_col:
            out = out.rename(self.linking_col_rename, axis="columns")
        return out

    def get_subsample(
        self, df: pd.DataFrame | None = None, compartment: str = "cells", rename_col: bool = True
    ) -> None:
        """Set ``subset_data_df``: the sampled cells of every stratum."""
        check_compartments(compartment)
        if df is None:
            cols = ", ".join(quote(c) for c in [*self.merge_cols, "ObjectNumber"])
            df = self._query(f"SELECT {cols} FROM {quote(compartment)}")
        if not self.image_data_loaded:
            self.load_image()
        merged = self.image_df.merge(df, how="inner", on=self.merge_cols)
        parts = [
            self.subsample_profiles(group, rename_col=rename_col)
            for _, group in merged.groupby(self.strata)
        ]
        self.subset_data_df = pd.concat(parts).reset_index(drop=True)
        self.is_subset_computed = True

    # -------------------------------------------------------------- aggregation
    def aggregate_compartment(
        self,
        compartment: str,
        compute_subsample: bool = False,
        compute_counts: bool = False,
        add_image_features: bool = False,
        n_aggregation_memory_strata: int = 1,
    ) -> pd.DataFrame:
        """Aggregate one compartment per stratum (optionally with object/site counts).

        ``n_aggregation_memory_strata`` is validated as pycytominer validates it and
        gives pycytominer's rows: pycytominer reads the compartment in chunks of that
        many strata (each chunk one SQL query selecting the cells whose merge
        columns take values of the chunk's strata), aggregates each chunk and
        concatenates the results. Here the chunk each cell falls into is worked out
        from the image table alone (:meth:`_memory_strata_chunks`) and the
        compartment is aggregated in one engine call, which bounds memory by column
        blocks rather than by strata; the rows equal pycytominer's for every value.
        """
        from cytoplan.compat.pycytominer.aggregate import aggregate

        check_compartments(compartment)
        if (self.subsample_frac < 1 or self.subsample_n != "all") and compute_subsample:
            self.get_subsample(compartment=compartment)
        if not self.image_data_loaded:
            self.load_image(image_table_name=self.image_table_name)
        if self.image_df.empty:
            # pycytominer concatenates one aggregate per memory stratum, and there are none
            # (e.g. fields_of_view=[1] on sites stored as text): pandas' error, and why
            msg = (
                "No objects to concatenate: no image is left to aggregate "
                f"(fields_of_view={self.fields_of_view!r} on {self.fields_of_view_feature})"
            )
            raise ValueError(msg)
        _check_memory_strata(n_aggregation_memory_strata)
        if self.features != "infer":
            missing = [c for c in self.merge_cols if c not in self.features]
            if missing:  # pycytominer looks the merge columns' SQL types up among the features
                raise KeyError(missing[0])
        chunks = self._memory_strata_chunks(n_aggregation_memory_strata)
        compartment_df = self.load_compartment(compartment)
        image_df = self.image_df
        strata = list(self.strata)
        if chunks["_many"]:
            image_df = image_df.merge(chunks["map"], how="inner", on=self.merge_cols)
            strata = [_CHUNK, *strata]
        else:
            image_df = image_df.merge(
                chunks["map"][self.merge_cols], how="inner", on=self.merge_cols
            )
        population_df = image_df.merge(compartment_df, how="inner", on=self.merge_cols)
        population_df = population_df.rename(self.linking_col_rename, axis="columns")
        if self.features == "infer":
            features: Any = infer_cp_features(population_df, compartments=compartment)
        else:
            features = self.features
        result: Any = aggregate(
            population_df=population_df,
            strata=strata,
            compute_object_count=compute_counts,
            operation=self.aggregation_operation,
            subset_data_df=self.subset_data_df,
            features=features,
            object_feature=self.object_feature,
        )
        if _CHUNK in result.columns:
            result = result.drop(columns=_CHUNK)
        if compute_counts and self.fields_of_view_feature not in self.strata:
            counts = aggregate_fields_count(self.image_df, self.strata, self.fields_of_view_feature)
            if add_image_features:
                if self.image_feature_categories is None:
                    msg = "image_feature_categories must be specified if add_image_features is True"
                    raise ValueError(msg)
                counts = aggregate_image_features(
                    counts,
                    self.image_features_df,
                    self.image_feature_categories,
                    self.image_cols,
                    self.strata,
                    self.aggregation_operation,
                )
            result = counts.merge(result, on=self.strata, how="right")
            metadata_cols = infer_cp_features(result, metadata=True)
            feature_cols = infer_cp_features(result, image_features=True)
            result = result.reindex(columns=metadata_cols + feature_cols)
        return result.reset_index(drop=True)

    def _memory_strata_chunks(self, n: int) -> dict[str, Any]:
        """Which of pycytominer's strata chunks read each image key.

        pycytominer groups the image table's strata (sorted, strata with a missing
        key left out) ``n`` at a time and reads, per chunk, the compartment rows
        whose merge columns each take a value listed for one of the chunk's strata
        (``TableNumber in (...) and ImageNumber in (...)``, per stratum, or-ed). A
        key can be read by no chunk (its stratum has a missing value) or by several
        (the per-column lists cross-match another stratum's images); each reading
        aggregates it again. Returns ``{"map": frame of merge columns and _CHUNK,
        "_many": whether some key is read by more than one chunk}``.
        """
        keys = self.image_df[self.merge_cols].drop_duplicates()
        by_value: list[dict[Any, set[int]]] = [{} for _ in self.merge_cols]
        groups = self.image_df.groupby(self.strata, sort=True, dropna=True)
        for position, (_, group) in enumerate(groups):
            chunk = position // int(n)
            for index, name in enumerate(self.merge_cols):
                for value in pd.unique(group[name]):
                    by_value[index].setdefault(value, set()).add(chunk)
        rows: list[tuple[Any, ...]] = []
        many = False
        for key in keys.itertuples(index=False, name=None):
            found: set[int] | None = None
            for index, value in enumerate(key):
                here = by_value[index].get(value, set())
                found = here if found is None else found & here
            for chunk in sorted(found or ()):
                rows.append((*key, chunk))
            many = many or len(found or ()) > 1
        mapping = pd.DataFrame(rows, columns=[*self.merge_cols, _CHUNK])
        for name in self.merge_cols:
            mapping[name] = mapping[name].astype(keys[name].dtype)
        return {"map": mapping, "_many": many}

    def aggregate_profiles(
        self,
        compute_subsample: bool = False,
        output_file: str | None = None,
        compression_options: str | None = None,
        float_format: str | None = None,
        n_aggregation_memory_strata: int = 1,
        **kwargs: Any,
    ) -> pd.DataFrame | str:
        """Aggregate every compartment and inner-join them on the strata.

        ``n_aggregation_memory_strata`` is checked as pycytominer checks it (not > 0:
        ``ValueError``; not an integer: ``TypeError``) and the rows are pycytominer's
        for that value (see :meth:`aggregate_compartment`). It does not change how
        much is held in memory: cytoplan's engine bounds that by computing medians in
        column blocks, not by reading a few strata at a time.
        """
        if output_file is not None:
            self.set_output_file(output_file)
        aggregated: pd.DataFrame | None = None
        for i, compartment in enumerate(self.compartments):
            if i == 0:
                aggregated = self.aggregate_compartment(
                    compartment=compartment,
                    compute_subsample=compute_subsample,
                    compute_counts=True,
                    add_image_features=self.add_image_features,
                    n_aggregation_memory_strata=n_aggregation_memory_strata,
                )
            else:
                assert aggregated is not None
                aggregated = aggregated.merge(
                    self.aggregate_compartment(
                        compartment=compartment,
                        n_aggregation_memory_strata=n_aggregation_memory_strata,
                    ),
                    on=self.strata,
                    how="inner",
                )
        self.is_aggregated = True
        assert aggregated is not None
        if self.output_file is not None:
            return output(
                df=aggregated,
                output_filename=self.output_file,
                compression_options=compression_options,
                float_format=float_format,
                **kwargs,
            )
        return aggregated

    # -------------------------------------------------------------- merging
    def _pycytominer_dtypes(self, sc_df: pd.DataFrame) -> pd.DataFrame:
        """Numbers back where pycytominer has them (cytoplan reads ``Metadata_*`` as text).

        Image columns take the image table's dtypes; renamed key and linking columns
        (object, image and parent numbers) become numbers when every value is one.
        """
        for name in sc_df.columns:
            if not pd.api.types.is_string_dtype(sc_df[name]):
                continue
            if name in self.image_df.columns:
                with contextlib.suppress(TypeError, ValueError):
                    sc_df[name] = sc_df[name].astype(self.image_df[name].dtype)
            elif name.startswith("Metadata_") and not name.startswith("Metadata_TableNumber"):
                with contextlib.suppress(TypeError, ValueError):
                    sc_df[name] = pd.to_numeric(sc_df[name])
        return sc_df

    def _outside_fields_of_view(self, sc_df: pd.DataFrame) -> pd.DataFrame:
        """Image columns missing for the objects of images outside ``fields_of_view``.

        pycytominer right-joins the objects to the image table filtered to the fields of
        view: every object stays, those of other images without image columns (an
        integer column becomes float64 with NaN). Images are matched on the merge
        columns (``Metadata_<col>`` in ``sc_df``), compared as text.
        """
        if self.fields_of_view == "all":
            return sc_df
        kept = pd.MultiIndex.from_frame(self.image_df.loc[:, self.merge_cols].astype(str))
        keys = sc_df.loc[:, [f"Metadata_{name}" for name in self.merge_cols]].astype(str)
        inside = pd.MultiIndex.from_frame(keys).isin(kept)
        if inside.all():
            return sc_df
        for name in self.image_df.columns:
            if name not in self.merge_cols and name in sc_df.columns:
                sc_df[name] = sc_df[name].where(inside)
        return sc_df

    def merge_single_cells(
        self,
        compute_subsample: bool = False,
        sc_output_file: str | None = None,
        compression_options: str | None = None,
        float_format: str | None = None,
        single_cell_normalize: bool = False,
        normalize_args: dict[str, Any] | None = None,
        platemap: Any = None,
        **kwargs: Any,
    ) -> pd.DataFrame | str:
        """One row per linked object (cytoplasm ⋈ cells ⋈ nuclei) with image columns first.

        Uses :func:`cytoplan.io.sqlite.scan_cellprofiler_sqlite` with pycytominer's
        linking columns and orphan handling (objects without a parent are dropped).
        """
        from cytoplan.io.cellprofiler import LinkSpec
        from cytoplan.io.sqlite import scan_cellprofiler_sqlite

        spec = LinkSpec(
            compartments=tuple(self.compartments),
            linking_columns=self.compartment_linking_cols,  # type: ignore[arg-type]
            merge_columns=tuple(self.merge_cols),
            image_columns=tuple(np.union1d(self.image_cols, self.strata).tolist()),
            image_table=self.image_table_name,
            orphans="drop",
        )
        with pycytominer_errors():
            frame = scan_cellprofiler_sqlite(self.path, link=spec).collect()
        sc_df = self._outside_fields_of_view(self._pycytominer_dtypes(frame.to_pandas()))
        if compute_subsample:
            if not self.is_subset_computed:
                self.get_subsample()
            assert self.subset_data_df is not None
            keys = self.subset_data_df.loc[
                :, ["TableNumber", "ImageNumber", "Metadata_ObjectNumber"]
            ]
            keys = keys.rename(
                columns={
                    "TableNumber": "Metadata_TableNumber",
                    "ImageNumber": "Metadata_ImageNumber",
                    "Metadata_ObjectNumber": "Metadata_ObjectNumber_cells",
                }
            )
            for name in keys.columns:
                keys[name] = keys[name].astype(str)
                sc_df[name] = sc_df[name].astype(str)
            sc_df = sc_df.merge(keys.drop_duplicates(), how="inner")
        if single_cell_normalize:
            from cytoplan.compat.pycytominer.normalize import normalize

            args = dict(normalize_args or {})
            args.setdefault("features", infer_cp_features(sc_df, compartments=self.compartments))
            sc_df = normalize(profiles=sc_df, **args)  # type: ignore[assignment]
        if platemap is not None:
            from cytoplan.compat.pycytominer.annotate import annotate

            sc_df = annotate(profiles=sc_df, platemap=platemap, **kwargs)  # type: ignore[assignment]
        if sc_output_file is not None:
            return output(
                df=sc_df,
                output_filename=sc_output_file,
                compression_options=compression_options,
                float_format=float_format,
                **kwargs,
            )
        return sc_df

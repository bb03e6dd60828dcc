"""Feature selection: pycytominer 1.7.1's ``feature_select`` as a fit on statistics.

:class:`FeatureSelector` ``fit``s on the reference rows of a LazyFrame (all rows,
or a subset such as negative controls) and decides which columns to drop;
``transform`` drops them lazily, keeping every row and the order of the other
columns. Operations run in the given order, each on the features the previous
ones kept:

``variance_threshold``
    population variance (NaN skipped) ``<= min_variance``;
``frequency_threshold``
    2nd/1st most common value count ``< freq_cut`` **or** distinct values / rows
    ``< unique_cut``;
``correlation_threshold``
    pycytominer's pair rule on signed correlations ``> corr_threshold``;
``drop_na_columns``
    share of missing values ``> na_cutoff``;
``blocklist``
    columns (features or not) named in a blocklist (the packaged ``default``);
``drop_outliers``
    ``|max|`` or ``|min|`` ``> outlier_cutoff``;
``noise_removal``
    mean over perturbation groups of the within-group population SD
    ``> noise_removal_stdev_cutoff``.

Statistics come from streaming aggregations (one ``select`` for counts and
extremes; deterministic streamed moments for variances and noise removal's
within-group SDs, the same bits whatever the thread count; value counts per column
block; a streamed Gram matrix for Pearson correlations); only small results are
collected.
``dropped_`` reports, for every dropped column, the operation, the statistic and
the reason.

Examples
--------
>>> import polars as pl
>>> lf = pl.LazyFrame(
...     {
...         "Metadata_Well": ["A01", "A02", "A03", "A04", "A05"],
...         "Cells_a": [1.0, 2.0, 3.0, 4.0, 5.0],
...         "Cells_b": [2.0, 4.1, 5.9, 8.2, 9.9],
...         "Cells_c": [3.0, 1.0, 4.0, 1.0, 5.0],
...         "Cells_flat": [1.0, 1.0, 1.0, 1.0, 1.0],
...     }
... )
>>> out = feature_select(lf, operations=["variance_threshold", "correlation_threshold"])
>>> out.collect_schema().names()
['Metadata_Well', 'Cells_b', 'Cells_c']
>>> selector = FeatureSelector(operations=["variance_threshold"]).fit(lf)
>>> selector.dropped_.select("feature", "operation", "value").rows()
[('Cells_flat', 'variance_threshold', 0.0)]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

import polars as pl

from cytoplan.config import settings
from cytoplan.exceptions import (
    ColumnNotFoundError,
    NotFittedError,
    ParameterError,
    StatisticsError,
)
from cytoplan.ops._params import check_choice, check_number, one_of, reject
from cytoplan.ops._selection_rules import (
    DROPPED_SCHEMA,
    Drop,
    blocklist_rule,
    correlation_rule,
    frequency_rule,
    na_rule,
    noise_rule,
    outlier_rule,
    variance_rule,
)
from cytoplan.ops._selection_stats import (
    Engine,
    clean,
    column_summaries,
    column_variances,
    frequency_counts,
    group_spread,
)
from cytoplan.ops.blocklist import resolve_blocklist
from cytoplan.query import as_predicate
from cytoplan.schema import (
    feature_columns,
    infer_cp_features,
    refuse_reserved,
    require_numeric,
)
from cytoplan.stats.correlation import correlation_matrix

if TYPE_CHECKING:
    from polars.selectors import Selector

    from cytoplan._typing import CorrelationMethod, FeatureSelectOperation

__all__ = ["OPERATIONS", "FeatureSelector", "feature_select"]

#: every operation, in pycytominer's order
OPERATIONS: tuple[str, ...] = (
    "variance_threshold",
    "frequency_threshold",
    "correlation_threshold",
    "drop_na_columns",
    "blocklist",
    "drop_outliers",
    "noise_removal",
)
_CORRELATION_METHODS = ("pearson", "spearman", "kendall")
_WHERE = "feature_select"
_LABEL_COLUMN = "__cytoplan_label__"
_WORKING_COPIES = 4  # values, NaN-cleaned copy, and the engine's buffers
_ROW_COLUMN = "__cytoplan_row__"


class FeatureSelector:
    """Decide which feature columns to drop (``fit``) and drop them lazily (``transform``).

    Parameters are those of :func:`feature_select`.

    Attributes
    ----------
    feature_names_in_ : list of str
        The features considered, in schema order.
    selected_features_ : list of str
        The features kept, in schema order.
    dropped_ : polars.DataFrame
        One row per dropped column: ``feature``, ``operation``, ``statistic``,
        ``value``, ``threshold``, ``partner`` (the correlated feature kept, for
        ``correlation_threshold``) and a readable ``reason``; in operation order,
        then column order.
    n_samples_seen_ : int
        Number of reference rows the statistics were computed on.
    """

    def __init__(
        self,
        *,
        operations: FeatureSelectOperation | Sequence[FeatureSelectOperation] = (
            "variance_threshold",
        ),
        features: Selector | Sequence[str] | str | None = None,
        reference: str | pl.Expr | None = None,
        na_cutoff: float = 0.05,
        corr_threshold: float = 0.9,
        corr_method: CorrelationMethod = "pearson",
        freq_cut: float = 0.05,
        unique_cut: float = 0.01,
        min_variance: float = 1e-6,
        blocklist: str | Sequence[str] | None = None,
        blocklist_name: str | Sequence[str] | None = None,
        outlier_cutoff: float = 500.0,
        noise_removal_perturb_groups: str | Sequence[Any] | None = None,
        noise_removal_stdev_cutoff: float | None = None,
        memory_limit: int | str | None = None,
    ) -> None:
        self.operations = operations
        self.features = features
        self.reference = reference
        self.na_cutoff = na_cutoff
        self.corr_threshold = corr_threshold
        self.corr_method = corr_method
        self.freq_cut = freq_cut
        self.unique_cut = unique_cut
        self.min_variance = min_variance
        self.blocklist = blocklist
        self.blocklist_name = blocklist_name
        self.outlier_cutoff = outlier_cutoff
        self.noise_removal_perturb_groups = noise_removal_perturb_groups
        self.noise_removal_stdev_cutoff = noise_removal_stdev_cutoff
        self.memory_limit = memory_limit

    # ------------------------------------------------------------------ fit

    def fit(self, lf: pl.LazyFrame) -> FeatureSelector:
        """Compute the statistics on the reference rows and decide what to drop."""
        operations = self._validated_operations()
        self._validate_parameters(operations)
        schema = lf.collect_schema()
        refuse_reserved(schema)
        features = _resolve_features(schema, self.features)
        predicate = as_predicate(self.reference, schema)
        reference = lf if predicate is None else lf.filter(predicate)

        state = _FitState(self, reference, schema, features, source=lf, predicate=predicate)
        for operation in operations:
            drops = state.run(operation)
            state.record(drops)

        self.feature_names_in_ = features
        self.dropped_ = _dropped_frame(state.drops)
        dropped = set(self.dropped_["feature"].to_list())
        self.selected_features_ = [name for name in features if name not in dropped]
        self.n_samples_seen_ = state.n_rows(require=False)  # blocklist needs no rows
        return self

    def transform(self, lf: pl.LazyFrame) -> pl.LazyFrame:
        """Drop the columns chosen in ``fit``; rows and the other columns are untouched."""
        if not hasattr(self, "dropped_"):
            msg = "FeatureSelector is not fitted yet; call fit(lf) before transform(lf)"
            raise NotFittedError(msg)
        schema = lf.collect_schema()
        missing = [name for name in self.selected_features_ if name not in schema]
        if missing:
            raise ColumnNotFoundError.from_missing(
                missing, schema.names(), where="the frame to transform (kept features)"
            )
        dropped = [name for name in self.dropped_["feature"].to_list() if name in schema]
        return lf.drop(dropped)

    def fit_transform(self, lf: pl.LazyFrame) -> pl.LazyFrame:
        """``fit(lf)`` then ``transform(lf)``."""
        return self.fit(lf).transform(lf)

    # ----------------------------------------------------------- validation

    def _validated_operations(self) -> list[str]:
        ops = self.operations
        allowed = f"an operation name or a non-empty list of them ({one_of(OPERATIONS)})"
        if not isinstance(ops, str | Sequence):
            reject("operations", ops, allowed, where=_WHERE)
        listed: list[str] = [ops] if isinstance(ops, str) else list(ops)
        if not listed:
            reject("operations", listed, allowed, where=_WHERE)
        unknown = [op for op in listed if op not in OPERATIONS]
        if unknown:
            reject("operations", ops, allowed, where=_WHERE, hint=f"unknown operation(s) {unknown}")
        return listed

    def _validate_parameters(self, operations: list[str]) -> None:
        for name in ("na_cutoff", "corr_threshold", "freq_cut", "unique_cut"):
            check_number(name, getattr(self, name), low=0.0, high=1.0, where=_WHERE)
        check_number("min_variance", self.min_variance, low=0.0, allow_infinite=True, where=_WHERE)
        check_number("outlier_cutoff", self.outlier_cutoff, allow_infinite=True, where=_WHERE)
        check_choice(
            "corr_method", self.corr_method, _CORRELATION_METHODS, fold_case=True, where=_WHERE
        )
        if "noise_removal" in operations:
            groups, cutoff = self.noise_removal_perturb_groups, self.noise_removal_stdev_cutoff
            for name, value, allowed in (
                (
                    "noise_removal_perturb_groups",
                    groups,
                    "a column name or one label per reference row",
                ),
                ("noise_removal_stdev_cutoff", cutoff, "a number"),
            ):
                if value is None:
                    reject(
                        name,
                        value,
                        allowed,
                        where=_WHERE,
                        hint=(
                            "noise_removal needs both noise_removal_perturb_groups and "
                            "noise_removal_stdev_cutoff"
                        ),
                    )
            check_number("noise_removal_stdev_cutoff", cutoff, allow_infinite=True, where=_WHERE)
            if not isinstance(groups, str | Sequence):
                reject(
                    "noise_removal_perturb_groups",
                    groups,
                    "a column name or a list of labels (one per reference row)",
                    where=_WHERE,
                )


def _resolve_features(schema: pl.Schema, spec: Selector | Sequence[str] | str | None) -> list[str]:
    if isinstance(spec, str) and spec == "infer":
        names = infer_cp_features(schema)
        require_numeric(schema, names)
        return names
    return feature_columns(schema, cast("Any", spec))


class _FitState:
    """The features still kept, and statistics computed at most once each."""

    def __init__(
        self,
        selector: FeatureSelector,
        reference: pl.LazyFrame,
        schema: pl.Schema,
        features: list[str],
        *,
        source: pl.LazyFrame,
        predicate: pl.Expr | None,
    ) -> None:
        self.selector = selector
        self.reference = reference
        self.source = source
        self.predicate = predicate
        self.schema = schema
        self.remaining = list(features)
        self.drops: list[Drop] = []
        self._summaries: pl.DataFrame | None = None
        self._variances: dict[str, float | None] = {}
        self._n_rows: int | None = None

    def record(self, drops: list[Drop]) -> None:
        already = {drop.feature for drop in self.drops}
        fresh = [drop for drop in drops if drop.feature not in already]
        self.drops.extend(fresh)
        gone = {drop.feature for drop in fresh}
        self.remaining = [name for name in self.remaining if name not in gone]

    def n_rows(self, *, require: bool = True) -> int:
        """Reference rows (a count query: free for Parquet, one column for a filter);
        none is an error when a statistic needs them (``require``)."""
        if self._n_rows is None:
            self._n_rows = int(self.reference.select(pl.len()).collect().item())
        if self._n_rows == 0 and require:
            msg = (
                f"the reference rows are empty (reference={self.selector.reference!r} "
                "selects no row); check the query against the table's values"
            )
            raise StatisticsError(msg)
        return self._n_rows

    def engine(self) -> Engine:
        """In-memory for small tables (the streaming engine's per-column overhead
        dominates at well level); streaming when the features would not fit."""
        size = self.n_rows() * max(1, len(self.remaining)) * 8 * _WORKING_COPIES
        limit = settings(memory_limit=self.selector.memory_limit).memory_limit
        return "in-memory" if size <= limit // 2 else "streaming"

    def summaries(self, *, variance: bool = False) -> pl.DataFrame:
        """Counts and extremes of the remaining features (one pass, cached), with their
        variances (``variance=True``: deterministic moments, computed once per feature)."""
        if self._summaries is None:
            self._summaries = column_summaries(
                self.reference, self.remaining, engine=self.engine(), variance=False
            )
        summaries = self._summaries.filter(pl.col("feature").is_in(self.remaining))
        if not variance:
            return summaries
        todo = [name for name in self.remaining if name not in self._variances]
        if todo:
            fresh = column_variances(self.reference, todo, memory_limit=self.selector.memory_limit)
            self._variances.update(zip(fresh["feature"], fresh["var"], strict=True))
            self._variances.update(self._constant_with_gaps(summaries, todo))
        var = pl.Series("var", [self._variances[name] for name in summaries["feature"]])
        infinite = pl.col("n_infinite") > 0
        return summaries.with_columns(
            pl.when(infinite).then(float("nan")).otherwise(var.cast(pl.Float64)).alias("var")
        )

    def _constant_with_gaps(self, summaries: pl.DataFrame, names: list[str]) -> dict[str, float]:
        """``np.nanvar`` of the features constant among their present values but with
        missing ones: sklearn's ``min_variance=0`` guard (peak to peak) sees NaN there and
        keeps NumPy's variance, which is 0 or rounding noise (copies of 0.1 do not average
        to 0.1), so it is read the way NumPy computes it, from the column itself."""
        import numpy as np

        constant = summaries.filter(
            pl.col("feature").is_in(names)
            & (pl.col("n_missing") > 0)
            & (pl.col("max") == pl.col("min"))
        )["feature"].to_list()
        if not constant:
            return {}
        values = self.reference.select(pl.col(constant).cast(pl.Float64)).collect()
        return {name: float(np.nanvar(values[name].to_numpy())) for name in constant}

    def run(self, operation: str) -> list[Drop]:
        sel = self.selector
        if operation == "blocklist":
            blocked = resolve_blocklist(sel.blocklist, blocklist_name=sel.blocklist_name)
            return blocklist_rule(blocked, self.schema.names())
        if not self.remaining:
            return []
        if operation == "variance_threshold":
            return variance_rule(self.summaries(variance=True), min_variance=sel.min_variance)
        if operation == "drop_na_columns":
            return na_rule(self.summaries(), na_cutoff=sel.na_cutoff)
        if operation == "drop_outliers":
            return outlier_rule(self.summaries(), outlier_cutoff=sel.outlier_cutoff)
        if operation == "frequency_threshold":
            n_rows = self.n_rows()
            counts = frequency_counts(
                self.reference, self.remaining, memory_limit=sel.memory_limit, n_rows=n_rows
            )
            return frequency_rule(
                counts, n_rows=n_rows, freq_cut=sel.freq_cut, unique_cut=sel.unique_cut
            )
        if operation == "correlation_threshold":
            self.n_rows()
            method = cast("CorrelationMethod", sel.corr_method.lower())
            corr = correlation_matrix(
                self.source,
                self.remaining,
                method=method,
                where=self.predicate,
                memory_limit=sel.memory_limit,
            )
            return correlation_rule(corr, self.remaining, threshold=sel.corr_threshold)
        if operation == "noise_removal":
            return self._noise_removal()
        reject(  # pragma: no cover - validated before
            "operations", operation, one_of(OPERATIONS), where=_WHERE
        )

    def _noise_removal(self) -> list[Drop]:
        sel = self.selector
        groups = sel.noise_removal_perturb_groups
        cutoff = cast("float", sel.noise_removal_stdev_cutoff)
        frame = self.reference
        if isinstance(groups, str):
            if groups not in self.schema:
                raise ColumnNotFoundError.from_missing(
                    [groups], self.schema.names(), where="noise_removal_perturb_groups"
                )
            group = (
                clean(groups, self.schema[groups])
                if self.schema[groups].is_float()
                else (pl.col(groups))
            )
        else:
            labels = list(cast("Sequence[Any]", groups))
            n_rows = self.n_rows()
            if len(labels) != n_rows:
                msg = (
                    f"{_WHERE}: noise_removal_perturb_groups must be a column name or one label "
                    f"per reference row ({n_rows} labels), got a list of length {len(labels)}"
                )
                raise ParameterError(msg)
            frame = _with_labels(frame, labels)
            group = pl.col(_LABEL_COLUMN)
        spread = group_spread(frame, self.remaining, group, memory_limit=sel.memory_limit)
        return noise_rule(spread, stdev_cutoff=cutoff)


def _with_labels(frame: pl.LazyFrame, labels: list[Any]) -> pl.LazyFrame:
    """Attach one label per row, by position."""
    try:
        series = pl.Series(_LABEL_COLUMN, labels, strict=False)
    except (TypeError, pl.exceptions.PolarsError):
        series = pl.Series(_LABEL_COLUMN, [None if x is None else str(x) for x in labels])
    if series.dtype == pl.Object:
        series = pl.Series(_LABEL_COLUMN, [None if x is None else str(x) for x in labels])
    if series.dtype.is_float():
        series = series.fill_nan(None)
    table = series.to_frame().with_row_index(_ROW_COLUMN)
    return frame.with_row_index(_ROW_COLUMN).join(table.lazy(), on=_ROW_COLUMN, how="left")


def _dropped_frame(drops: list[Drop]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "feature": [d.feature for d in drops],
            "operation": [d.operation for d in drops],
            "statistic": [d.statistic for d in drops],
            "value": [d.value for d in drops],
            "threshold": [d.threshold for d in drops],
            "partner": [d.partner for d in drops],
            "reason": [d.reason for d in drops],
        },
        schema=DROPPED_SCHEMA,
    )


def feature_select(
    lf: pl.LazyFrame,
    *,
    operations: FeatureSelectOperation | Sequence[FeatureSelectOperation] = ("variance_threshold",),
    features: Selector | Sequence[str] | str | None = None,
    reference: str | pl.Expr | None = None,
    na_cutoff: float = 0.05,
    corr_threshold: float = 0.9,
    corr_method: CorrelationMethod = "pearson",
    freq_cut: float = 0.05,
    unique_cut: float = 0.01,
    min_variance: float = 1e-6,
    blocklist: str | Sequence[str] | None = None,
    blocklist_name: str | Sequence[str] | None = None,
    outlier_cutoff: float = 500.0,
    noise_removal_perturb_groups: str | Sequence[Any] | None = None,
    noise_removal_stdev_cutoff: float | None = None,
    memory_limit: int | str | None = None,
) -> pl.LazyFrame:
    """Drop uninformative features; every row and the order of the other columns are kept.

    Parameters
    ----------
    lf
        Profiles (well level or single cells).
    operations
        One operation name or several, run in order, each on the features the
        previous ones kept (see the module docstring). Default: variance threshold.
    features
        ``None`` (numeric ``Cells_``/``Cytoplasm_``/``Nuclei_`` columns), a Polars
        selector, a list of names, or ``"infer"`` (pycytominer's prefix rule).
    reference
        Rows the statistics are computed on: ``None``/``"all"``, a Polars
        expression, or a pandas-style query string
        (``"Metadata_control_type == 'negcon'"``). pycytominer's ``samples``.
    na_cutoff, corr_threshold, freq_cut, unique_cut
        Thresholds in ``[0, 1]``.
    corr_method
        ``"pearson"``, ``"spearman"`` or ``"kendall"``.
    min_variance
        Minimum population variance (``>= 0``) for ``variance_threshold``.
    blocklist, blocklist_name
        Column names to block (a list), or the name(s) of packaged lists; with
        neither, the packaged ``"default"`` list (55 CellProfiler features).
    outlier_cutoff
        Largest absolute value tolerated by ``drop_outliers``.
    noise_removal_perturb_groups, noise_removal_stdev_cutoff
        Required by ``noise_removal``: the group column's name, or one label per
        reference row; and the largest mean within-group SD tolerated.
    memory_limit
        Memory budget for holistic statistics (value counts, rank correlations),
        e.g. ``"2GiB"``; defaults to cytoplan's setting.

    Returns
    -------
    polars.LazyFrame
        ``lf`` without the dropped columns. Use :class:`FeatureSelector` to see
        what was dropped and why (``dropped_``).

    Examples
    --------
    >>> import polars as pl
    >>> lf = pl.LazyFrame({"Cells_a": [1.0, None, None], "Cells_b": [1.0, 2.0, 3.0]})
    >>> feature_select(lf, operations="drop_na_columns").collect_schema().names()
    ['Cells_b']
    """
    selector = FeatureSelector(
        operations=operations,
        features=features,
        reference=reference,
        na_cutoff=na_cutoff,
        corr_threshold=corr_threshold,
        corr_method=corr_method,
        freq_cut=freq_cut,
        unique_cut=unique_cut,
        min_variance=min_variance,
        blocklist=blocklist,
        blocklist_name=blocklist_name,
        outlier_cutoff=outlier_cutoff,
        noise_removal_perturb_groups=noise_removal_perturb_groups,
        noise_removal_stdev_cutoff=noise_removal_stdev_cutoff,
        memory_limit=memory_limit,
    )
    return selector.fit(lf).transform(lf)

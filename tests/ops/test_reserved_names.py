"""Tables whose column names collide with cytoplan's own: temporary columns (every
operation), and for normalize the statistics table's columns and PCA's components."""

from __future__ import annotations

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from cytoplan.exceptions import SchemaError
from cytoplan.ops.normalize import (
    InverseNormal,
    MADRobustize,
    Normalizer,
    Robustize,
    Spherize,
    Standardize,
    normalize,
)

PLATES = pl.DataFrame(
    {
        "Metadata_Plate": ["P1", "P1", "P1", "P2", "P2", "P2"],
        "Cells_a": [1.0, 2.0, 4.0, 3.0, 5.0, 9.0],
        "Cells_b": [2.0, 1.0, 0.5, 0.0, 5.0, 1.0],
    }
)
METHODS = ["standardize", "robustize", "mad_robustize", "spherize", "inverse_normal"]
CLASSES: list[type[Normalizer]] = [Standardize, Robustize, MADRobustize, Spherize, InverseNormal]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("by", [None, "Metadata_Plate"])
def test_a_column_named_like_a_temporary_one_is_refused(method: str, by: str | None) -> None:
    # it used to be overwritten by the group index ([0, 0, 0, 1, 1, 1]), silently
    table = PLATES.with_columns(__cytoplan_group=pl.lit("mine"))
    with pytest.raises(SchemaError, match=r"\['__cytoplan_group'\] start with '__cytoplan'"):
        normalize(table.lazy(), method=method, by=by)  # type: ignore[arg-type]


def test_a_table_with_a_temporary_name_is_refused_at_transform_too() -> None:
    fitted = Standardize().fit(PLATES.lazy(), by="Metadata_Plate")
    with pytest.raises(SchemaError, match="__cytoplan_row"):
        fitted.transform(PLATES.lazy().with_columns(__cytoplan_row=pl.lit(1)))


@pytest.mark.parametrize("kind", CLASSES, ids=lambda kind: kind.__name__)
def test_a_group_key_named_like_a_statistics_column_is_refused(kind: type[Normalizer]) -> None:
    for name in kind._stats_columns:
        table = PLATES.rename({"Metadata_Plate": name})
        with pytest.raises(SchemaError, match=rf"group key\(s\) \['{name}'\] are named like"):
            kind().fit(table.lazy(), by=name)


@pytest.mark.parametrize("method", ["robustize", "mad_robustize", "standardize"])
def test_a_feature_named_feature_is_normalized_like_any_other(method: str) -> None:
    plain = normalize(PLATES.lazy(), method=method, by="Metadata_Plate").collect()  # type: ignore[arg-type]
    named = normalize(
        PLATES.rename({"Cells_a": "feature"}).lazy(),
        method=method,  # type: ignore[arg-type]
        by="Metadata_Plate",
        features=["feature", "Cells_b"],
    ).collect()
    assert_frame_equal(named, plain.rename({"Cells_a": "feature"}))


@pytest.mark.parametrize("column", [pl.lit("x"), pl.lit(3.0)], ids=["text", "number"])
def test_pca_components_must_not_land_on_a_kept_column(column: pl.Expr) -> None:
    table = PLATES.with_columns(column.alias("PC2"))
    with pytest.raises(SchemaError, match=r"components PC1\.\.PC2, but the table already has"):
        normalize(
            table.lazy(), method="spherize", spherize_method="PCA", features=["Cells_a", "Cells_b"]
        )
    fitted = Spherize(method="PCA").fit(PLATES.lazy())
    with pytest.raises(SchemaError, match="'PC2'"):
        fitted.transform(table.lazy())
    # ZCA keeps the feature names: the same column is only carried along
    kept = normalize(
        table.lazy(), method="spherize", spherize_method="ZCA", features=["Cells_a", "Cells_b"]
    )
    assert kept.collect()["PC2"].to_list() == table["PC2"].to_list()


@pytest.mark.parametrize(
    "operation", ["aggregate", "annotate", "consensus-median", "consensus-modz", "feature_select"]
)
def test_every_operation_refuses_a_column_named_like_a_temporary_one(operation: str) -> None:
    from cytoplan.ops.aggregate import aggregate
    from cytoplan.ops.annotate import annotate
    from cytoplan.ops.consensus import consensus
    from cytoplan.ops.feature_select import feature_select

    table = PLATES.with_columns(Metadata_Well=pl.lit("A01"), __cytoplan_group__=pl.lit(1)).lazy()
    platemap = pl.LazyFrame({"well_position": ["A01"], "treatment": ["dmso"]})
    calls = {
        "aggregate": lambda: aggregate(table),
        "annotate": lambda: annotate(table, platemap),
        "consensus-median": lambda: consensus(table, replicate_columns="Metadata_Plate"),
        "consensus-modz": lambda: consensus(
            table, replicate_columns="Metadata_Plate", method="modz"
        ),
        "feature_select": lambda: feature_select(table, operations="variance_threshold"),
    }
    with pytest.raises(SchemaError, match=r"\['__cytoplan_group__'\] start with '__cytoplan'"):
        calls[operation]()

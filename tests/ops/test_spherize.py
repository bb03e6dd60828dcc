"""Spherize: parity with pycytominer 1.7.1 (4 methods x center), streamed TSQR, errors."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import polars as pl
import pytest

from cytoplan.exceptions import ParameterError, StatisticsError
from cytoplan.ops.normalize import Spherize, normalize
from cytoplan.testing.profiles import make_profiles

pycytominer = pytest.importorskip("pycytominer")

NEGCON = "Metadata_control_type == 'negcon'"
META = ["Metadata_Plate", "Metadata_Well", "Metadata_control_type", "Metadata_broad_sample"]
RTOL = 1e-9
CASES = [
    ("PCA", True),
    ("PCA", False),
    ("ZCA", True),
    ("ZCA", False),
    ("PCA-cor", True),
    ("ZCA-cor", True),
]


def complete_profiles(**kwargs: int) -> tuple[pl.DataFrame, list[str]]:
    """Profiles without missing values nor near-constant features (kind 3)."""
    df = make_profiles(nulls=False, **kwargs)
    features = [c for c in df.columns if c.startswith(("Cells_", "Cytoplasm_", "Nuclei_"))]
    kept = [c for c in features if int(c.rsplit("_", 1)[1]) % 6 != 3]
    return df.select(*META, *kept), kept


def reference(pdf: pd.DataFrame, features: list[str], **kwargs: object) -> pd.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pycytominer.normalize(
            profiles=pdf, features=features, meta_features=META, method="spherize", **kwargs
        )


def assert_close(ours: np.ndarray, theirs: np.ndarray, *, pca: bool, components: int) -> None:
    """Equal within RTOL (relative to the largest value), PCA columns up to their sign."""
    ours = ours[:, :components]
    theirs = theirs[:, :components]
    if pca:
        signs = np.sign(np.sum(ours * theirs, axis=0))
        signs[signs == 0] = 1.0
        ours = ours * signs
    scale = np.abs(theirs).max()
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=RTOL * scale)


@pytest.mark.parametrize(("method", "center"), CASES)
@pytest.mark.parametrize("samples", ["all", NEGCON])
@pytest.mark.parametrize("shape", ["n>d", "n<=d"])
def test_parity_with_pycytominer(method: str, center: bool, samples: str, shape: str) -> None:
    if shape == "n>d":
        df, features = complete_profiles(plates=1, wells=96, cells_per_well=3, features=24, seed=2)
    else:  # 24 wells (6 negcon) x 30 features
        df, features = complete_profiles(plates=1, wells=24, features=36, seed=4)
    ours = normalize(
        df.lazy(),
        method="spherize",
        reference=samples,
        spherize_method=method,  # type: ignore[arg-type]
        spherize_center=center,
    ).collect()
    theirs = reference(
        df.to_pandas(),
        features,
        samples=samples,
        spherize_method=method,
        spherize_center=center,
    )
    pca = method.startswith("PCA")
    names = [f"PC{i}" for i in range(1, len(features) + 1)] if pca else features
    assert ours.columns == [*META, *names] == list(theirs.columns)
    n = (
        df.height
        if samples == "all"
        else df.filter(pl.col("Metadata_control_type") == "negcon").height
    )
    # with n <= d, PCA components beyond the rank span an arbitrary basis of the null space
    components = len(features) if not pca or n > len(features) else n - 1
    assert_close(
        ours.select(names).to_numpy(), theirs[names].to_numpy(), pca=pca, components=components
    )


@pytest.mark.parametrize(("method", "center"), CASES)
def test_streamed_tsqr_equals_direct_svd(method: str, center: bool) -> None:
    df, features = complete_profiles(plates=2, wells=48, cells_per_well=12, features=18, seed=6)
    direct = Spherize(method=method, center=center).fit(df.lazy(), by="Metadata_Plate")  # type: ignore[arg-type]
    streamed = Spherize(method=method, center=center, memory_limit=4096).fit(  # type: ignore[arg-type]
        df.lazy(), by="Metadata_Plate"
    )
    assert streamed.rank_ == direct.rank_ == [len(features)] * 2
    a = direct.transform(df.lazy()).collect()
    b = streamed.transform(df.lazy()).collect()
    names = [c for c in a.columns if c not in META]
    assert_close(
        b.select(names).to_numpy(), a.select(names).to_numpy(), pca=False, components=len(names)
    )
    # and pycytominer, plate by plate
    for plate in df.partition_by("Metadata_Plate", maintain_order=True):
        theirs = reference(
            plate.to_pandas(), features, spherize_method=method, spherize_center=center
        )
        mine = b.filter(pl.col("Metadata_Plate") == plate["Metadata_Plate"][0])
        assert_close(
            mine.select(names).to_numpy(),
            theirs[names].to_numpy(),
            pca=method.startswith("PCA"),
            components=len(names),
        )


def test_reference_covariance_is_identity() -> None:
    df, features = complete_profiles(plates=1, wells=96, cells_per_well=4, features=12, seed=1)
    out = normalize(df.lazy(), method="spherize", spherize_epsilon=0.0, reference=NEGCON).collect()
    negcon = out.filter(pl.col("Metadata_control_type") == "negcon").select(features).to_numpy()
    np.testing.assert_allclose(np.cov(negcon, rowvar=False), np.eye(len(features)), atol=1e-8)


def test_keeps_other_columns_and_places_pcs() -> None:
    df = pl.DataFrame(
        {
            "ImageNumber": [1, 2, 3, 4, 5],
            "Cells_a": [1.0, 2.0, 3.0, 4.0, 6.0],
            "Metadata_Well": ["A", "B", "C", "D", "E"],
            "Nuclei_b": [2.0, 1.0, 4.0, 3.0, 9.0],
        }
    )
    pca = normalize(df.lazy(), method="spherize", spherize_method="PCA").collect()
    assert pca.columns == ["ImageNumber", "PC1", "PC2", "Metadata_Well"]
    zca = normalize(df.lazy(), method="spherize", spherize_method="ZCA").collect()
    assert zca.columns == df.columns
    assert zca["ImageNumber"].equals(df["ImageNumber"])


def test_null_rows_in_transform_give_nulls() -> None:
    df, features = complete_profiles(plates=1, wells=48, features=6, seed=1)
    fitted = Spherize(method="ZCA").fit(df.lazy())
    holes = df.with_columns(
        pl.when(pl.int_range(pl.len()) == 3)
        .then(None)
        .otherwise(pl.col(features[0]))
        .alias(features[0])
    )
    out = fitted.transform(holes.lazy()).collect()
    assert out.row(3, named=True)[features[2]] is None
    assert out.select(features).drop_nulls().height == df.height - 1


def test_pca_sign_is_deterministic() -> None:
    df, features = complete_profiles(plates=1, wells=48, features=6, seed=1)
    fitted = Spherize(method="PCA").fit(df.lazy())
    w = fitted.stats_.select([f"PC{i}" for i in range(1, len(features) + 1)]).to_numpy()
    largest = w[np.argmax(np.abs(w), axis=0), np.arange(w.shape[1])]
    assert (largest > 0).all()


# --------------------------------------------------------------------- errors
def test_constant_feature_under_cor_names_plate_and_column() -> None:
    df, features = complete_profiles(plates=2, wells=24, features=6, seed=1)
    df = df.with_columns(
        pl.when(pl.col("Metadata_Plate") == "BR00000002")
        .then(7.0)
        .otherwise(pl.col(features[2]))
        .alias(features[2])
    )
    with pytest.raises(StatisticsError, match=rf"Metadata_Plate='BR00000002'.*'{features[2]}'"):
        normalize(df.lazy(), method="spherize", by="Metadata_Plate")
    # pycytominer: "Divide by zero error"
    with pytest.raises(ValueError, match="Divide by zero"):
        reference(df.filter(pl.col("Metadata_Plate") == "BR00000002").to_pandas(), features)
    # ZCA (no standardization) accepts it
    normalize(df.lazy(), method="spherize", spherize_method="ZCA", by="Metadata_Plate").collect()


@pytest.mark.parametrize("memory_limit", [None, 4096])
def test_missing_values_are_refused(memory_limit: int | None) -> None:
    df = make_profiles(plates=1, wells=48, features=6, seed=1, nulls=True)
    with pytest.raises(StatisticsError, match="missing"):
        normalize(df.lazy(), method="spherize", spherize_method="ZCA", memory_limit=memory_limit)


def test_bad_options() -> None:
    df, _ = complete_profiles(plates=1, wells=24, features=6, seed=1)
    with pytest.raises(ParameterError, match="needs center=True"):
        normalize(df.lazy(), method="spherize", spherize_method="ZCA-cor", spherize_center=False)
    with pytest.raises(ParameterError, match=r"method must be one of 'PCA', 'ZCA', .*got 'zca'"):
        normalize(df.lazy(), method="spherize", spherize_method="zca")  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="epsilon must be a number"):
        Spherize(epsilon="x").fit(df.lazy())  # type: ignore[arg-type]


def test_rank_check_as_pycytominer() -> None:
    # n <= d with duplicated reference rows: rank < n - 1 (pycytominer raises ValueError too)
    df, features = complete_profiles(plates=1, wells=8, features=24, seed=1)
    doubled = pl.concat([df, df])  # n = 16 <= d = 20, rank 7
    with pytest.raises(StatisticsError, match="rank n - 1 or n"):
        normalize(doubled.lazy(), method="spherize", spherize_method="ZCA", features=features[:20])
    with pytest.raises(ValueError, match="rank should be n - 1 or n"):
        reference(doubled.to_pandas(), features[:20], spherize_method="ZCA")
    # n > d with a duplicated feature: rank d - 1; the (buggy) check lets it through in both
    dup = df.with_columns(pl.col(features[0]).alias("Cells_copy"))
    few = [*features[:3], "Cells_copy"]
    fitted = Spherize(method="ZCA", features=few).fit(dup.lazy())
    assert fitted.rank_ == [3]
    theirs = reference(dup.to_pandas(), few, spherize_method="ZCA")
    ours = fitted.transform(dup.lazy()).collect().select(few).to_numpy()
    np.testing.assert_allclose(ours, theirs[few].to_numpy(), rtol=0, atol=1e-9 * np.abs(ours).max())

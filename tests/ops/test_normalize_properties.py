"""Property tests of normalize (hypothesis): invariants that hold for any data."""

from __future__ import annotations

import numpy as np
import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from cytoplan.ops.normalize import Standardize, normalize

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
values = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)


@st.composite
def plates(draw: st.DrawFn, *, min_rows: int = 2, max_features: int = 4) -> pl.DataFrame:
    n_plates = draw(st.integers(1, 3))
    d = draw(st.integers(1, max_features))
    frames = []
    for p in range(n_plates):
        n = draw(st.integers(min_rows, 12))
        x = draw(arrays(np.float64, (n, d), elements=values))
        control = draw(arrays(np.bool_, n, elements=st.booleans()))
        control[0] = True  # at least one reference row per plate
        frame = pl.DataFrame(x, schema=[f"Cells_f{j}" for j in range(d)], orient="row")
        frames.append(
            frame.with_columns(
                Metadata_Plate=pl.lit(f"P{p}"),
                Metadata_control_type=pl.Series(np.where(control, "negcon", "trt")),
            )
        )
    return pl.concat(frames).select(
        "Metadata_Plate", "Metadata_control_type", pl.all().exclude("^Metadata_.*$")
    )


@SETTINGS
@given(plates())
def test_mad_robustize_reference_median_is_zero(df: pl.DataFrame) -> None:
    negcon = pl.col("Metadata_control_type") == "negcon"
    out = normalize(df.lazy(), method="mad_robustize", reference=negcon, by="Metadata_Plate")
    reference = out.filter(negcon).collect()
    for (plate,), rows in reference.partition_by("Metadata_Plate", as_dict=True).items():
        x = rows.select(pl.col("^Cells_.*$")).to_numpy()
        median = np.median(x, axis=0)
        # zero up to rounding of the (x - m) / s of the two middle values
        tolerance = 1e-12 * np.maximum(np.abs(x).max(axis=0), 1.0)
        assert (np.abs(median) <= tolerance).all(), (plate, median)


@SETTINGS
@given(plates(), st.integers(0, 2**16))
def test_standardize_is_invariant_to_row_order(df: pl.DataFrame, seed: int) -> None:
    shuffled = df.with_row_index("row").sample(fraction=1.0, shuffle=True, seed=seed)
    a = Standardize().fit(df.lazy(), by="Metadata_Plate")
    b = Standardize().fit(shuffled.drop("row").lazy(), by="Metadata_Plate")
    np.testing.assert_allclose(
        b.stats_["mean"].to_numpy(), a.stats_["mean"].to_numpy(), rtol=1e-12, atol=1e-9
    )
    out_a = a.transform(df.lazy()).collect()
    out_b = b.transform(shuffled.lazy()).collect().sort("row").drop("row")
    np.testing.assert_allclose(
        out_b.select(pl.col("^Cells_.*$")).to_numpy(),
        out_a.select(pl.col("^Cells_.*$")).to_numpy(),
        rtol=1e-9,
        atol=1e-9,
    )


@SETTINGS
@given(
    st.integers(2, 6), st.integers(0, 2**16), st.sampled_from(["ZCA", "PCA", "ZCA-cor", "PCA-cor"])
)
def test_sphering_gives_identity_reference_covariance(d: int, seed: int, method: str) -> None:
    rng = np.random.default_rng(seed)
    n = 5 * d + int(rng.integers(0, 20))
    mixing = rng.normal(size=(d, d)) + 3 * np.eye(d)
    x = rng.normal(size=(n, d)) @ mixing + rng.normal(0, 10, size=d)
    df = pl.DataFrame(x, schema=[f"Cells_f{j}" for j in range(d)], orient="row")
    out = normalize(
        df.lazy(), method="spherize", spherize_method=method, spherize_epsilon=0.0
    ).collect()  # type: ignore[arg-type]
    np.testing.assert_allclose(np.cov(out.to_numpy(), rowvar=False), np.eye(d), atol=1e-8)

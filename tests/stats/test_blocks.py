"""Column blocks and the working memory they share: the limit less what the process holds."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from cytoplan.stats import blocks, correlation, holistic
from cytoplan.stats.blocks import column_blocks, resident_bytes, working_memory
from cytoplan.testing.profiles import make_profiles

MiB = 2**20
GiB = 2**30


def test_resident_bytes_sees_an_allocation() -> None:
    before = resident_bytes()
    data = np.ones(64 * MiB // 8)  # touched pages: 64 MiB resident
    after = resident_bytes()
    assert 10 * MiB < before < 64 * GiB
    assert after - before >= 48 * MiB
    del data


@pytest.mark.parametrize(
    ("limit", "resident", "expected"),
    [
        ("1GiB", 100 * MiB, 1024 - 256),  # a small process: the fixed 256 MiB reserve
        ("1GiB", 300 * MiB, 1024 - 300 - 32),  # a larger one: what it holds + headroom
        ("2GiB", 1500 * MiB, 2048 - 1500 - 32),  # 1.5 GiB of Parquet footers
        ("2GiB", 1900 * MiB, 512),  # nearly all of it held: a quarter of the limit
        ("1GiB", 8 * GiB, 256),  # more than the limit held: still a quarter
    ],
)
def test_working_memory_takes_what_is_held_off_the_limit(
    limit: str, resident: int, expected: int
) -> None:
    assert working_memory(limit, resident=resident) == expected * MiB


def test_working_memory_measures_the_process_when_not_told(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(blocks, "resident_bytes", lambda: 700 * MiB)
    assert working_memory("2GiB") == (2048 - 700 - 32) * MiB


def test_blocks_narrow_as_the_process_holds_more() -> None:
    names = [f"f{i}" for i in range(3000)]
    rows = 300_000  # a column's working set: 300,000 x 8 x 4 = 9.2 MB
    light = column_blocks(names, rows, "2GiB", resident=200 * MiB)
    heavy = column_blocks(names, rows, "2GiB", resident=1500 * MiB)
    assert [len(b) for b in light][:1] == [(2048 - 256) * MiB // (rows * 32)]  # 195
    assert [len(b) for b in heavy][:1] == [(2048 - 1532) * MiB // (rows * 32)]  # 56
    for split in (light, heavy):
        assert [name for block in split for name in block] == names


def test_medians_in_narrower_blocks_are_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    cells = make_profiles(plates=1, wells=6, cells_per_well=40, features=9, seed=5)
    features = [c for c in cells.columns if not c.startswith("Metadata_")]
    keys = ["Metadata_Plate", "Metadata_Well"]
    # an in-memory frame takes the path that reads ahead: 240 rows x 1.5 x 8 bytes x 4
    # copies = 11,520 bytes a column. With no fixed reserve a 60 KiB limit holds 5
    # columns a block, and a quarter of it (1 column) once the process holds all of it
    monkeypatch.setattr(blocks, "_RESERVED_BYTES", 0)
    monkeypatch.setattr(blocks, "_HEADROOM_BYTES", 0)
    limit = 240 * 8 * 4 * 8
    widths: list[list[int]] = []
    original = holistic.column_blocks

    def spy(*args: object, **kwargs: object) -> list[list[str]]:
        split = original(*args, **kwargs)  # type: ignore[arg-type]
        widths.append([len(block) for block in split])
        return split

    monkeypatch.setattr(holistic, "column_blocks", spy)
    monkeypatch.setattr(blocks, "resident_bytes", lambda: 0)
    wide = holistic.grouped_medians(cells.lazy(), features, by=keys, memory_limit=limit)
    monkeypatch.setattr(blocks, "resident_bytes", lambda: limit)
    narrow = holistic.grouped_medians(cells.lazy(), features, by=keys, memory_limit=limit)
    assert [widths[0][0], widths[1][0]] == [5, 1]
    assert wide.equals(narrow)
    expected = cells.to_pandas().groupby(keys)[features].median()
    np.testing.assert_array_equal(narrow.select(features).to_numpy(), expected.to_numpy())


def test_correlation_slices_shrink_as_the_process_holds_more(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(blocks, "resident_bytes", lambda: 100 * MiB)
    light = correlation._piece_rows(3000, 2048, "1GiB")
    monkeypatch.setattr(blocks, "resident_bytes", lambda: 550 * MiB)
    heavy = correlation._piece_rows(3000, 2048, "1GiB")
    # (1 GiB - 256 MiB - 144 MB of accumulators) / 2 / 24,000 bytes a row -> 8,192
    assert light == 8192
    # (1 GiB - 582 MiB - 144 MB) / 2 / 24,000 -> 6,655: not rounded below 8,192
    assert heavy == ((1024 - 582) * MiB - 2 * 3000 * 3000 * 8) // 2 // 24_000 == 6655
    lf = pl.LazyFrame({"a": np.arange(10.0), "b": np.arange(10.0) ** 2})
    assert correlation.pearson(lf, ["a", "b"])[0, 1] == pytest.approx(0.9627, abs=1e-4)


def test_slices_make_room_once_pairwise_sums_replace_the_gram_matrix(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A batch with a missing value switches Pearson to four d x d pairwise sums: the
    slices read after it are sized for those, not for the one Gram matrix."""
    rng = np.random.default_rng(2)
    values = rng.normal(size=(5000, 3))
    values[2600, 1] = np.nan
    frame = pl.DataFrame(values, schema=["a", "b", "c"], orient="row")
    held: list[int] = []
    original = correlation._piece_rows

    def spy(width: int, rows: int, limit: object, matrices: int = 2, working: object = None) -> int:
        held.append(matrices)
        return original(width, rows, limit, matrices, working)  # type: ignore[arg-type]

    monkeypatch.setattr(correlation, "_piece_rows", spy)
    # a quarter of 64 KiB, halved: 341 rows of 24 bytes a slice
    got = correlation.pearson(frame.lazy(), ["a", "b", "c"], memory_limit="64KiB", batch_rows=256)
    switch = held.index(5)
    assert held[:switch] == [2] * switch and set(held[switch:]) == {5}
    # the 256-row batch holding row 2,600 ends at row 2,815, in the ninth slice
    assert switch == (2815 // 341) + 1
    expected = frame.to_pandas().corr().to_numpy()
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)


def test_stable_row_order_tells_reordering_plans_apart(tmp_path) -> None:
    from cytoplan.stats.blocks import stable_row_order

    path = tmp_path / "t.parquet"
    pl.DataFrame({"k": ["a", "b", "a"], "x": [1.0, 2.0, 3.0]}).write_parquet(path)
    scan = pl.scan_parquet(path)
    other = pl.LazyFrame({"k": ["a", "b"], "y": [1, 2]})
    stable = [
        scan,
        scan.select("x"),
        scan.filter(pl.col("x") > 1).with_columns(z=pl.col("x") * 2),
        scan.rename({"x": "w"}).head(2),
        pl.concat([scan, scan]),
        scan.with_columns(m=pl.col("x").mean().over("k")),
        scan.collect().lazy(),
    ]
    reordering = [
        scan.join(other, on="k"),
        scan.group_by("k").agg(pl.col("x").sum()),
        scan.unique(),
        scan.sort("x"),
    ]
    assert all(stable_row_order(plan) for plan in stable)
    assert not any(stable_row_order(plan) for plan in reordering)

"""SingleCells' memory strata and cell counts vs pycytominer 1.7.1 on the same SQLite files."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pandas as pd
import pytest
from pycytominer.cyto_utils.cells import SingleCells as TheirCells

from cytoplan.compat.pycytominer.cyto_utils.cells import SingleCells as OurCells

from .conftest import assert_same

ROOT = Path(__file__).resolve().parents[2] / "data_fixtures"
PLATE = ROOT / "cpg0000-synthetic/workspace/backend/2024_01_01_Batch1/BR00000001/BR00000001.sqlite"
URL = f"sqlite:///{PLATE}"
TABLES = ("Image", "Cells", "Cytoplasm", "Nuclei")


def _rekey(con: sqlite3.Connection, old: tuple[str, int], new: tuple[str, int]) -> None:
    """Give one image (and its objects) new merge keys (TableNumber, ImageNumber)."""
    for table in TABLES:
        con.execute(
            f"UPDATE {table} SET TableNumber = ?, ImageNumber = ? "
            "WHERE TableNumber = ? AND ImageNumber = ?",
            (*new, *old),
        )


@pytest.fixture(scope="module")
def awkward_plate(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The fixture plate with keys on which pycytominer's strata chunks are not a partition.

    * well A01's two sites become (T, 1) and (T, 2); well A02's become (U, 1) and (T, 3):
      A02's chunk query (``TableNumber in (T, U) and ImageNumber in (1, 3)``) also reads
      A01's first site, so that site is aggregated twice when the wells fall in
      different chunks;
    * the sites of well B01 have no ``Metadata_Well``: pycytominer's chunks leave that
      stratum out (its cells are never read), unless another chunk's lists reach them.
    """
    path = tmp_path_factory.mktemp("awkward") / "plate.sqlite"
    shutil.copy(PLATE, path)
    with sqlite3.connect(path) as con:
        sites = {
            (well, site): (table, number)
            for table, number, well, site in con.execute(
                "SELECT TableNumber, ImageNumber, Metadata_Well, Metadata_Site FROM Image"
            )
        }
        _rekey(con, sites["A01", "1"], ("T", 1))
        _rekey(con, sites["A01", "2"], ("T", 2))
        _rekey(con, sites["A02", "1"], ("U", 1))
        _rekey(con, sites["A02", "2"], ("T", 3))
        con.execute("UPDATE Image SET Metadata_Well = NULL WHERE Metadata_Well = 'B01'")
    return f"sqlite:///{path}"


@pytest.mark.parametrize("n", [1, 2, 3, 7, 1000])
@pytest.mark.parametrize("url", ["fixture", "awkward"])
def test_memory_strata_give_pycytominer_rows(n, url, awkward_plate):
    """Every ``n_aggregation_memory_strata`` gives pycytominer's table (values exact)."""
    sql = URL if url == "fixture" else awkward_plate
    for operation in ("median", "mean"):
        ours = OurCells(sql, aggregation_operation=operation).aggregate_profiles(
            n_aggregation_memory_strata=n
        )
        theirs = TheirCells(sql, aggregation_operation=operation).aggregate_profiles(
            n_aggregation_memory_strata=n
        )
        assert len(theirs) > 0
        assert_same(ours, theirs, rtol=0 if operation == "median" else 1e-9)


def test_memory_strata_change_rows_only_where_pycytominer_does(awkward_plate):
    """The awkward keys: B01 is dropped; A01 is read twice only when A01/A02 are split.

    (``aggregate_profiles`` inner-joins the compartments on the strata, so a stratum
    read twice in each of three compartments gives 2 × 2 × 2 rows, in both libraries.)
    """
    for n, copies in ((1, 2), (2, 1)):
        ours = OurCells(awkward_plate).aggregate_compartment("cells", n_aggregation_memory_strata=n)
        theirs = TheirCells(awkward_plate).aggregate_compartment(
            "cells", n_aggregation_memory_strata=n
        )
        assert_same(ours, theirs, rtol=0)
        wells = ours["Metadata_Well"].tolist()
        assert "B01" not in wells and None not in wells
        assert wells.count("A01") == copies
    profiles = OurCells(awkward_plate).aggregate_profiles()
    assert profiles["Metadata_Well"].tolist().count("A01") == 8
    fixture = OurCells(URL).aggregate_profiles(n_aggregation_memory_strata=3)
    assert_same(fixture, OurCells(URL).aggregate_profiles(), rtol=0)


def test_memory_strata_with_subsample_and_site_strata():
    kwargs = {
        "strata": ["Metadata_Plate", "Metadata_Well", "Metadata_Site"],
        "subsample_n": 3,
        "subsampling_random_state": 11,
    }
    ours = OurCells(URL, **kwargs).aggregate_profiles(
        compute_subsample=True, n_aggregation_memory_strata=4
    )
    theirs = TheirCells(URL, **kwargs).aggregate_profiles(
        compute_subsample=True, n_aggregation_memory_strata=4
    )
    assert_same(ours, theirs, rtol=0)


@pytest.mark.parametrize(
    ("value", "error"),
    [
        (0, ValueError),
        (-2, ValueError),
        (float("nan"), ValueError),
        (2.0, TypeError),
        (0.5, TypeError),
        ("2", TypeError),
        (None, TypeError),
    ],
    ids=repr,
)
def test_memory_strata_errors_match(value, error):
    messages = []
    for cls in (OurCells, TheirCells):
        with pytest.raises(error) as raised:
            cls(URL).aggregate_profiles(n_aggregation_memory_strata=value)
        messages.append(str(raised.value))
    assert messages[0] == messages[1]


# ------------------------------------------------------------------ count_cells


@pytest.fixture(scope="module")
def counted_plate(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The fixture plate whose image table has a ``Count_Cells`` column that disagrees
    with the objects (3 × the number of cells, one site missing its count)."""
    path = tmp_path_factory.mktemp("counted") / "plate.sqlite"
    shutil.copy(PLATE, path)
    with sqlite3.connect(path) as con:
        con.execute("ALTER TABLE Image ADD COLUMN Count_Cells INTEGER")
        con.execute("UPDATE Image SET Count_Cells = 3 * Image_Count_Cells")
        con.execute(
            "UPDATE Image SET Count_Cells = NULL WHERE Metadata_Well = 'A02' "
            "AND Metadata_Site = '1'"
        )
    return f"sqlite:///{path}"


def _both(url: str, init: dict, **kwargs: object) -> tuple[pd.DataFrame, pd.DataFrame]:
    return (
        OurCells(url, **init).count_cells(**kwargs),
        TheirCells(url, **init).count_cells(**kwargs),
    )


@pytest.mark.parametrize(
    ("init", "kwargs"),
    [
        ({}, {}),  # image table column read by SQL
        ({}, {"compartment": "nuclei"}),  # the image count wins whatever the compartment
        ({"image_cols": ["TableNumber", "ImageNumber", "Metadata_Site", "Count_Cells"]}, {}),
        ({"strata": ["Metadata_Plate", "Metadata_Well", "Metadata_Site"]}, {}),
        ({}, {"image_count_col": "Image_Count_Nuclei"}),
        ({}, {"image_count_col": "no_such_column"}),  # falls back to the objects
        ({}, {"image_count_col": "no_such_column", "compartment": "cytoplasm"}),
    ],
    ids=str,
)
def test_count_cells_matches(counted_plate, init, kwargs):
    ours, theirs = _both(counted_plate, init, **kwargs)
    assert_same(ours, theirs, rtol=0)


def test_count_cells_prefers_the_image_count(counted_plate):
    ours = OurCells(counted_plate).count_cells().set_index("Metadata_Well")["cell_count"]
    objects = OurCells(counted_plate).count_cells(image_count_col="none")
    objects = objects.set_index("Metadata_Well")["cell_count"]
    assert ours["A01"] == 3 * objects["A01"]
    assert ours["A02"] == 3 * objects["A02"] / 2  # the site without a count adds 0
    fixture, theirs = _both(URL, {})  # no Count_Cells column: objects
    assert_same(fixture, theirs, rtol=0)
    assert fixture["cell_count"].tolist() == objects.tolist()


def test_count_cells_subset_and_errors(counted_plate):
    init = {"subsample_n": 2, "subsampling_random_state": 3}
    for cls in (OurCells, TheirCells):
        cells = cls(counted_plate, **init)
        with pytest.raises(RuntimeError, match="aggregate_profiles"):
            cells.count_cells(count_subset=True)
        cells.is_aggregated = True
        with pytest.raises(RuntimeError, match="get_subsample"):
            cells.count_cells(count_subset=True)
        with pytest.raises(ValueError, match="merge_cols"):
            cells.count_cells(image_count_col="none", merge_cols=[])
        with pytest.raises(ValueError, match="object_col"):
            cells.count_cells(image_count_col="none", object_col="")
    ours_sc, theirs_sc = OurCells(counted_plate, **init), TheirCells(counted_plate, **init)
    for cells in (ours_sc, theirs_sc):
        cells.aggregate_profiles(compute_subsample=True)
    ours = ours_sc.count_cells(count_subset=True)
    assert ours["cell_count"].tolist() == [2] * 24  # subsample_n per stratum
    if int(pd.__version__.split(".")[0]) >= 3:
        # pycytominer 1.7.1 on pandas 3: groupby().apply() leaves the strata out of
        # subset_data_df, so its count_subset fails; cytoplan keeps them
        # (docs/parity/compat.md)
        with pytest.raises(KeyError, match="Metadata_Plate"):
            theirs_sc.count_cells(count_subset=True)
    else:  # pandas 2 keeps the strata: both count the subsample alike
        assert_same(ours, theirs_sc.count_cells(count_subset=True))


def test_feature_list_without_merge_columns_fails_as_pycytominer():
    """pycytominer looks the merge columns' SQL types up among ``features``: KeyError."""
    features = ["Cells_AreaShape_Area", "Cytoplasm_AreaShape_Area", "Nuclei_AreaShape_Area"]
    for cls in (OurCells, TheirCells):
        with pytest.raises(KeyError, match="TableNumber"):
            cls(URL, features=features).aggregate_profiles()


@pytest.fixture(scope="module")
def integer_sites_plate(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The fixture plate with ``Metadata_Site`` stored as INTEGER, site 2 renamed 10."""
    path = tmp_path_factory.mktemp("sites") / "plate.sqlite"
    shutil.copy(PLATE, path)
    with sqlite3.connect(path) as con:
        names = [row[1] for row in con.execute("PRAGMA table_info(Image)")]
        site = (
            "CAST(CASE Metadata_Site WHEN '2' THEN '10' ELSE Metadata_Site END AS INTEGER) "
            "AS Metadata_Site"
        )
        columns = ", ".join(site if name == "Metadata_Site" else f'"{name}"' for name in names)
        con.execute(f"CREATE TABLE Image2 AS SELECT {columns} FROM Image")
        con.execute("DROP TABLE Image")
        con.execute("ALTER TABLE Image2 RENAME TO Image")
    return f"sqlite:///{path}"


@pytest.mark.parametrize("fields_of_view", [[10], [1], [1, 10], "all"], ids=str)
def test_merge_single_cells_fields_of_view(integer_sites_plate, fields_of_view):
    """Objects of other sites stay, without image columns (pycytominer's right join)."""
    ours = OurCells(integer_sites_plate, fields_of_view=fields_of_view).merge_single_cells()
    theirs = TheirCells(integer_sites_plate, fields_of_view=fields_of_view).merge_single_cells()
    if fields_of_view in ([10], [1]):
        assert 0 < theirs["Metadata_Plate"].isna().sum() < len(theirs)
    assert_same(ours, theirs)


def test_aggregating_no_image_fails_as_pycytominer() -> None:
    # the fixture stores Metadata_Site as text: fields_of_view=[1] keeps no image. compat
    # used to return an empty table where pycytominer raises; merging still keeps the cells
    url = f"sqlite:///{PLATE}"
    with pytest.raises(ValueError, match="No objects to concatenate"):
        TheirCells(url, fields_of_view=[1]).aggregate_profiles()
    with pytest.raises(ValueError, match="No objects to concatenate"):
        OurCells(url, fields_of_view=[1]).aggregate_profiles()
    ours = OurCells(url, fields_of_view=[1]).merge_single_cells()
    theirs = TheirCells(url, fields_of_view=[1]).merge_single_cells()
    assert len(ours) == len(theirs) > 0

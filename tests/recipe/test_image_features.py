"""Recipes with ``image_feature_categories`` give ``SingleCells(...).aggregate_profiles()``'s table.

pycytominer 1.7.1's ``SingleCells(add_image_features=True, image_feature_categories=...)``
is run on the same SQLite file with the same settings; the recipe's aggregated
table must have its columns, in its order, its rows and its values (medians
exact, means within 1e-12). Two image tables: the fixture's as written
(``Image_``-prefixed names, from which pycytominer extracts no image feature: only
``Metadata_Site_Count`` is added) and the same with the prefix removed
(cytominer-database's names: counts summed, other features aggregated).
"""

from __future__ import annotations

import shutil
import sqlite3
import warnings
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from cytoplan.exceptions import RecipeError
from cytoplan.recipe import load_recipe, run_recipe

from .conftest import BATCH, PROFILING_RECIPE, WORKSPACE

pd = pytest.importorskip("pandas")
pytest.importorskip("pycytominer")

PLATE = "BR00000001"
SQLITE = WORKSPACE / "backend" / BATCH / PLATE / f"{PLATE}.sqlite"
CATEGORIES = ["Count", "Intensity", "Granularity", "ImageQuality"]


def _unprefixed(folder: Path, *, integer_sites: bool = False) -> Path:
    """The fixture plate with its image table's ``Image_`` prefixes removed.

    ``integer_sites``: ``Metadata_Site`` stored as INTEGER, as pycytominer's
    ``fields_of_view`` (a list of ints compared with ``==``) needs.
    """
    target = folder / BATCH / PLATE / f"{PLATE}.sqlite"
    target.parent.mkdir(parents=True)
    shutil.copy(SQLITE, target)
    with sqlite3.connect(target) as con:
        columns = [row[1] for row in con.execute("PRAGMA table_info(Image)")]
        for column in columns:
            if column.startswith("Image_"):
                new = column.removeprefix("Image_")
                con.execute(f'ALTER TABLE Image RENAME COLUMN "{column}" TO "{new}"')
        if integer_sites:
            names = [row[1] for row in con.execute("PRAGMA table_info(Image)")]
            select = ", ".join(
                'CAST("Metadata_Site" AS INTEGER) AS "Metadata_Site"'
                if name == "Metadata_Site"
                else f'"{name}"'
                for name in names
            )
            con.execute(f"CREATE TABLE Image_new AS SELECT {select} FROM Image")
            con.execute("DROP TABLE Image")
            con.execute("ALTER TABLE Image_new RENAME TO Image")
    return target


def _reference(sqlite: Path, **options: object) -> pd.DataFrame:
    from pycytominer.cyto_utils.cells import SingleCells

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        frame = SingleCells(f"sqlite:///{sqlite}", **options).aggregate_profiles()
    assert isinstance(frame, pd.DataFrame)
    return frame


def _cytoplan_recipe(folder: Path, sqlite: Path, step: str) -> Path:
    recipe = folder / "recipe.yml"
    recipe.write_text(
        "version: 1\n"
        f"workspace: {folder}\n"
        "output: {dir: out, format: parquet}\n"
        f"inputs: {{single_cells: {sqlite}}}\n"
        "steps:\n"
        f"  aggregated: {{op: aggregate, {step}}}\n"
    )
    return recipe


def _assert_same(got: pl.DataFrame, expected: pd.DataFrame, *, rtol: float = 0.0) -> None:
    assert got.columns == list(expected.columns)
    assert got.height == len(expected)
    for name in got.columns:
        mine, theirs = got[name], expected[name]
        if mine.dtype == pl.String:
            assert mine.to_list() == [str(v) for v in theirs], name
            continue
        values = mine.cast(pl.Float64).to_numpy()
        if rtol:
            np.testing.assert_allclose(values, theirs.to_numpy(float), rtol=rtol, err_msg=name)
        else:
            np.testing.assert_array_equal(values, theirs.to_numpy(float), err_msg=name)
        if pd.api.types.is_integer_dtype(theirs):
            assert mine.dtype == pl.Int64, name


@pytest.mark.parametrize("method", ["median", "mean"])
@pytest.mark.parametrize("prefixed", [True, False])
def test_cytoplan_recipe_matches_aggregate_profiles(
    tmp_path: Path, method: str, prefixed: bool
) -> None:
    sqlite = SQLITE if prefixed else _unprefixed(tmp_path / "backend")
    step = f"method: {method}, image_feature_categories: [{', '.join(CATEGORIES)}]"
    run_recipe(_cytoplan_recipe(tmp_path, sqlite, step))
    got = pl.read_parquet(tmp_path / "out" / BATCH / PLATE / f"{PLATE}_aggregated.parquet")
    expected = _reference(
        sqlite,
        aggregation_operation=method,
        add_image_features=True,
        image_feature_categories=CATEGORIES,
    )
    _assert_same(got, expected, rtol=1e-12 if method == "mean" else 0.0)
    image = [c for c in got.columns if c.startswith(("Image_", "Metadata_Count_"))]
    if prefixed:
        assert image == []
    else:
        assert "Metadata_Count_Cells" in image
        assert "Image_Intensity_TotalIntensity_DNA" in image


def test_site_count_only_and_fields_of_view(tmp_path: Path) -> None:
    sqlite = _unprefixed(tmp_path / "backend", integer_sites=True)
    step = "site_count: true, fields_of_view: ['1']"
    run_recipe(_cytoplan_recipe(tmp_path, sqlite, step))
    got = pl.read_parquet(tmp_path / "out" / BATCH / PLATE / f"{PLATE}_aggregated.parquet")
    expected = _reference(sqlite, fields_of_view=[1])
    _assert_same(got, expected)
    assert got["Metadata_Site_Count"].to_list() == [1] * got.height


def test_add_image_features_false_counts_sites_only(tmp_path: Path) -> None:
    sqlite = _unprefixed(tmp_path / "backend")
    step = "image_feature_categories: [Count], add_image_features: false"
    run_recipe(_cytoplan_recipe(tmp_path, sqlite, step))
    got = pl.read_parquet(tmp_path / "out" / BATCH / PLATE / f"{PLATE}_aggregated.parquet")
    expected = _reference(sqlite, add_image_features=False, image_feature_categories=["Count"])
    _assert_same(got, expected)


def _workspace(folder: Path) -> Path:
    """A workspace holding the first plate only: unprefixed image names, integer sites."""
    workspace = folder / "workspace"
    shutil.copytree(WORKSPACE / "metadata", workspace / "metadata")
    _unprefixed(workspace / "backend", integer_sites=True)
    return workspace


def _profiling_recipe(folder: Path, aggregate: str) -> Path:
    text = PROFILING_RECIPE.read_text()
    text = text.replace("  - name: BR00000002\n    process: true\n", "")
    text = text.replace("  method: median\n  fields: all\n", aggregate)
    for section in ("annotate", "normalize", "normalize_negcon", "feature_select"):
        text = text.replace(f"\n{section}:\n  perform: true", f"\n{section}:\n  perform: false")
    text = text.replace(
        "feature_select_negcon:\n  perform: true", "feature_select_negcon:\n  perform: false"
    )
    path = folder / "profiling-recipe.yml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("aggregate", "options"),
    [
        (
            "  method: median\n  fields: all\n  image_feature_categories:\n    - Count\n"
            "    - Intensity\n",
            {"add_image_features": True, "image_feature_categories": ["Count", "Intensity"]},
        ),
        (
            "  method: mean\n  fields:\n    - 2\n  image_feature_categories: [Count]\n",
            {
                "aggregation_operation": "mean",
                "fields_of_view": [2],
                "add_image_features": True,
                "image_feature_categories": ["Count"],
            },
        ),
    ],
)
def test_profiling_recipe_matches_aggregate_profiles(
    tmp_path: Path, aggregate: str, options: dict[str, object]
) -> None:
    """profiling-recipe's pipeline_aggregate: SingleCells(...).aggregate_profiles → %.5g CSV."""
    from pycytominer.cyto_utils import output

    recipe = _profiling_recipe(tmp_path, aggregate)
    workspace = _workspace(tmp_path)
    loaded = load_recipe(recipe, workspace=workspace)
    assert [p.plate for p in loaded.plates] == [PLATE]
    assert not [w for w in loaded.warnings if "image_feature_categories" in w]
    out = tmp_path / "profiles"
    run_recipe(recipe, workspace=workspace, output_dir=out)
    expected = _reference(workspace / "backend" / BATCH / PLATE / f"{PLATE}.sqlite", **options)
    reference_file = tmp_path / "reference.csv.gz"
    output(expected, str(reference_file), float_format="%.5g", compression_options="gzip")
    ours = pd.read_csv(out / BATCH / PLATE / f"{PLATE}.csv.gz")
    theirs = pd.read_csv(reference_file)
    assert list(ours.columns) == list(theirs.columns)
    assert "Metadata_Site_Count" in ours.columns
    assert "Metadata_Count_Cells" in ours.columns
    pd.testing.assert_frame_equal(ours, theirs)


def test_cytoplan_recipe_checks_the_image_keys(tmp_path: Path) -> None:
    cases = {
        "image_feature_categories: Count": "image_feature_categories must be a list of texts",
        "add_image_features: true": "add_image_features needs image_feature_categories",
        "image_feature_categories: [Count], site_count: false": "remove site_count: false",
    }
    for step, message in cases.items():
        with pytest.raises(RecipeError, match=message):
            load_recipe(_cytoplan_recipe(tmp_path, SQLITE, step))
    recipe = tmp_path / "other.yml"
    recipe.write_text(
        "version: 1\n"
        f"inputs: {{single_cells: {SQLITE}}}\n"
        "steps:\n"
        "  aggregated: {op: aggregate}\n"
        "  normalized: {op: normalize, image_feature_categories: [Count]}\n"
    )
    with pytest.raises(RecipeError, match="applies to aggregate steps only"):
        load_recipe(recipe)


def test_image_keys_need_a_sqlite_source(tmp_path: Path) -> None:
    cells = tmp_path / BATCH / PLATE / f"{PLATE}.parquet"
    cells.parent.mkdir(parents=True)
    frame = pl.DataFrame(
        {
            "Metadata_Plate": ["P"],
            "Metadata_Well": ["A01"],
            "Metadata_ObjectNumber": ["1"],
            "Cells_A": [1.0],
        }
    )
    frame.write_parquet(cells)
    with pytest.raises(RecipeError, match="only a CellProfiler SQLite source has"):
        run_recipe(_cytoplan_recipe(tmp_path, cells, "site_count: true"))


def test_explain_names_the_image_columns(tmp_path: Path) -> None:
    from cytoplan.recipe import explain_recipe

    text = explain_recipe(_cytoplan_recipe(tmp_path, SQLITE, "image_feature_categories: [Count]"))
    assert "+ Metadata_Site_Count and image features ['Count'] from the image table" in text


def test_profiling_recipe_counts_sites_only_when_the_image_table_has_them(tmp_path: Path) -> None:
    workspace = _workspace(tmp_path)
    plate = workspace / "backend" / BATCH / PLATE / f"{PLATE}.sqlite"
    recipe = _profiling_recipe(tmp_path, "  method: median\n  fields: all\n")
    assert load_recipe(recipe, workspace=workspace).step("aggregate").site_count
    with sqlite3.connect(plate) as con:
        con.execute('ALTER TABLE Image RENAME COLUMN "Metadata_Site" TO "Metadata_Field"')
    loaded = load_recipe(recipe, workspace=workspace)
    assert not loaded.step("aggregate").site_count
    assert any(f"{PLATE} has no Metadata_Site column" in w for w in loaded.warnings)

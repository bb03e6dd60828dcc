"""Loading both recipe dialects; validation errors name the file and line."""

from __future__ import annotations

import doctest
import importlib
import shutil
from pathlib import Path

import pytest

from cytoplan.exceptions import RecipeError
from cytoplan.recipe import load_recipe, plan

from .conftest import BATCH, CYTOPLAN_RECIPE, PLATES, PROFILING_RECIPE, WORKSPACE


@pytest.mark.parametrize(
    "module",
    [
        "cytoplan.recipe",
        "cytoplan.recipe._yaml",
        "cytoplan.recipe.model",
        "cytoplan.recipe.load",
        "cytoplan.recipe.provenance",
        "cytoplan.recipe.run",
        "cytoplan.recipe.reference",
        "cytoplan.io.gct",
    ],
)
def test_doctests(module: str) -> None:
    result = doctest.testmod(
        importlib.import_module(module), optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    )
    assert result.attempted > 0
    assert result.failed == 0


def test_profiling_recipe_template_loads_with_its_conventions() -> None:
    recipe = load_recipe(PROFILING_RECIPE, workspace=WORKSPACE)
    assert recipe.dialect == "profiling-recipe"
    assert [p.plate for p in recipe.plates] == PLATES
    assert recipe.plates[0].source == str(
        WORKSPACE / "backend" / BATCH / "BR00000001" / "BR00000001.sqlite"
    )
    assert recipe.plates[0].platemap_name == "platemap_1"
    assert recipe.output_dir == WORKSPACE / "profiles"
    assert [s.name for s in recipe.steps] == [
        "aggregate",
        "annotate",
        "normalize",
        "normalize_negcon",
        "feature_select",
        "feature_select_negcon",
    ]
    negcon = recipe.step("normalize_negcon")
    assert negcon.params["reference"] == "Metadata_control_type == 'negcon'"
    assert negcon.output == "{batch}/{plate}/{plate}_normalized_negcon.csv.gz"
    assert recipe.step("feature_select").output == (
        "{batch}/{plate}/{plate}_normalized_feature_select_batch.csv.gz"
    )
    assert recipe.float_format == "%.5g"
    # quality_control is accepted and reported, with its line
    (warning,) = recipe.warnings
    text = PROFILING_RECIPE.read_text().splitlines()
    line = next(i for i, row in enumerate(text, 1) if row.startswith("quality_control:"))
    assert f"profiling-recipe.yml:{line}: quality_control is not yet supported" in warning


def test_profiling_recipe_plan_orders_plates_then_batch() -> None:
    tasks = plan(load_recipe(PROFILING_RECIPE, workspace=WORKSPACE))
    labels = [t.label for t in tasks]
    assert labels.index(f"feature_select batch {BATCH}") > labels.index(
        f"normalize {BATCH}/BR00000002"
    )
    batch_task = tasks[labels.index(f"feature_select batch {BATCH}")]
    assert [o.kind for o in batch_task.outputs] == ["plate", "plate", "stacked", "gct"]
    assert batch_task.outputs[-1].path == (
        WORKSPACE / "gct" / BATCH / f"{BATCH}_normalized_feature_select_batch.gct"
    )


def test_cytoplan_recipe_loads_globs_and_templates() -> None:
    recipe = load_recipe(CYTOPLAN_RECIPE)
    assert recipe.dialect == "cytoplan"
    assert [(p.batch, p.plate) for p in recipe.plates] == [(BATCH, p) for p in PLATES]
    assert recipe.workspace == WORKSPACE
    assert [s.op for s in recipe.steps] == [
        "aggregate",
        "annotate",
        "normalize",
        "feature_select",
        "consensus",
    ]
    assert recipe.step("consensus").level == "all"
    assert recipe.step("consensus").stacked == "consensus.parquet"


def _write(tmp_path: Path, text: str, name: str = "recipe.yml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _profiling_with(tmp_path: Path, old: str, new: str) -> Path:
    text = PROFILING_RECIPE.read_text()
    assert old in text
    return _write(tmp_path, text.replace(old, new, 1))


def _line_of(path: Path, needle: str) -> int:
    return next(i for i, row in enumerate(path.read_text().splitlines(), 1) if needle in row)


def _refused_at(path: Path, needle: str, message: str) -> None:
    """Loading ``path`` fails with ``message`` (a regex) on the first line holding ``needle``."""
    line = _line_of(path, needle)
    with pytest.raises(RecipeError, match=rf"recipe.yml:{line}: {message}"):
        load_recipe(path, workspace=WORKSPACE)


def test_unknown_key_names_file_and_line(tmp_path: Path) -> None:
    path = _profiling_with(tmp_path, "  method: median\n", "  method: median\n  metod: mean\n")
    _refused_at(path, "metod:", "unknown key 'metod' in aggregate")


def test_wrong_type_names_file_and_line(tmp_path: Path) -> None:
    path = _profiling_with(tmp_path, "  fields: all\n", "  fields: 3\n")
    _refused_at(path, "fields: 3", "aggregate.fields must be")
    path = _profiling_with(
        tmp_path, "  perform: true\n  method: mad", "  perform: yes please\n  method: mad"
    )
    with pytest.raises(RecipeError, match=r"normalize.perform must be true or false"):
        load_recipe(path, workspace=WORKSPACE)


def test_missing_plate_names_the_plate_entry(tmp_path: Path) -> None:
    path = _profiling_with(tmp_path, "- name: BR00000002", "- name: BR00000009")
    _refused_at(path, "BR00000009", "plate BR00000009: single-cell SQLite .* does not exist")


def test_missing_external_metadata_file(tmp_path: Path) -> None:
    path = _profiling_with(tmp_path, "file: external_metadata.tsv", "file: moa.tsv")
    _refused_at(path, "file: moa.tsv", "external metadata .*moa.tsv' does not exist")


def test_bad_yaml_names_line_and_column(tmp_path: Path) -> None:
    path = _write(tmp_path, "version: 1\ninputs:\n  single_cells: [a, b\nsteps: {}\n")
    with pytest.raises(RecipeError, match=r"recipe.yml:4:\d+: not valid YAML"):
        load_recipe(path)


def test_duplicate_key_is_an_error(tmp_path: Path) -> None:
    path = _profiling_with(tmp_path, "  method: median\n", "  method: median\n  method: mean\n")
    with pytest.raises(RecipeError, match=r"key 'method' appears twice"):
        load_recipe(path, workspace=WORKSPACE)


def _cytoplan_text(steps: str) -> str:
    return (
        "version: 1\n"
        f"workspace: {WORKSPACE}\n"
        "inputs:\n"
        "  single_cells: backend/*/*/*.sqlite\n"
        "  barcode_platemap: metadata/platemaps/{batch}/barcode_platemap.csv\n"
        "  platemap: metadata/platemaps/{batch}/platemap/{platemap_name}.txt\n"
        "steps:\n" + steps
    )


def test_cytoplan_unknown_step_parameter_suggests_a_fix(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        _cytoplan_text(
            "  aggregated: {op: aggregate}\n  n:\n    op: normalize\n    methd: standardize\n"
        ),
    )
    with pytest.raises(
        RecipeError,
        match=r"recipe.yml:11: unknown key 'methd' in step 'n' .*did you mean 'method'",
    ):
        load_recipe(path)


def test_cytoplan_wrong_parameter_type(tmp_path: Path) -> None:
    path = _write(tmp_path, _cytoplan_text("  a:\n    op: aggregate\n    object_count: 3\n"))
    with pytest.raises(
        RecipeError, match=r"recipe.yml:10: aggregate parameter object_count must be true or false"
    ):
        load_recipe(path)


@pytest.mark.parametrize(
    ("step", "message"),
    [
        (
            "    op: normalize\n    method: mad_robustise\n",
            r"unknown 'mad_robustise' \(did you mean 'mad_robustize'\?\)",
        ),
        (
            "    op: feature_select\n    operations: [variance_treshold]\n",
            r"operations: unknown 'variance_treshold' \(did you mean 'variance_threshold'",
        ),
        ("    op: consensus\n    method: mode\n", r"consensus parameter method: unknown 'mode'"),
        ("    op: normalize\n    spherize_method: zca\n", r"spherize_method: unknown 'zca'"),
    ],
)
def test_cytoplan_unknown_choices_fail_when_the_recipe_loads(
    tmp_path: Path, step: str, message: str
) -> None:
    path = _write(tmp_path, _cytoplan_text("  a:\n" + step))
    with pytest.raises(RecipeError, match=rf"recipe.yml:10: .*{message}"):
        load_recipe(path)
    upper = _write(tmp_path, _cytoplan_text("  a:\n    op: normalize\n    method: Standardize\n"))
    assert load_recipe(upper).step("a").params["method"] == "Standardize"  # as in Python


def test_cytoplan_input_must_be_an_earlier_step(tmp_path: Path) -> None:
    path = _write(
        tmp_path, _cytoplan_text("  a: {op: aggregate}\n  b:\n    op: normalize\n    input: c\n")
    )
    with pytest.raises(
        RecipeError, match=r"recipe.yml:11: step b: input 'c' is not an earlier step"
    ):
        load_recipe(path)


def test_cytoplan_glob_without_match(tmp_path: Path) -> None:
    text = _cytoplan_text("  a: {op: aggregate}\n").replace(
        "backend/*/*/*.sqlite", "nothing/*.sqlite"
    )
    with pytest.raises(RecipeError, match=r"recipe.yml:4: no file matches 'nothing/\*.sqlite'"):
        load_recipe(_write(tmp_path, text))


def test_cytoplan_version_is_checked(tmp_path: Path) -> None:
    text = _cytoplan_text("  a: {op: aggregate}\n").replace("version: 1", "version: 2")
    with pytest.raises(RecipeError, match=r"recipe.yml:1: version must be 1"):
        load_recipe(_write(tmp_path, text))


def test_recipe_reference_page_is_generated_from_the_schema() -> None:
    from cytoplan.recipe.load import (
        AGGREGATE_KEYS,
        CYTOPLAN_SPEC,
        PIPELINE_SPEC,
        STEP_KEYS,
        op_parameters,
    )
    from cytoplan.recipe.model import OPS
    from cytoplan.recipe.reference import render_reference

    page = WORKSPACE.parents[2] / "docs" / "recipe-reference.md"
    text = render_reference()
    assert page.read_text() == text, (
        "regenerate: python -m cytoplan.recipe.reference > docs/recipe-reference.md"
    )
    for key in [*PIPELINE_SPEC, *CYTOPLAN_SPEC, *STEP_KEYS, *AGGREGATE_KEYS]:
        assert f"| `{key}` |" in text
    for op in OPS:
        for name in op_parameters(op):
            assert f"| `{name}` |" in text


def test_sections_not_run_yet_are_reported_with_their_lines(tmp_path: Path) -> None:
    path = _profiling_with(
        tmp_path, "  fields: all\n", "  fields: all\n  image_feature_categories:\n    - Count\n"
    )
    text = path.read_text().replace(
        "  subgroups: false\n  min_cells: 1\nnormalize_negcon",
        "  subgroups: true\n  min_cells: 1\nnormalize_negcon",
    )
    path.write_text(text)
    recipe = load_recipe(path, workspace=WORKSPACE)
    subgroups = _line_of(path, "subgroups: true")
    joined = "\n".join(recipe.warnings)
    assert "image_feature_categories" not in joined  # run since image features landed
    assert f"recipe.yml:{subgroups}: normalize.subgroups is not yet supported" in joined
    assert len(recipe.warnings) == 2
    aggregate = recipe.step("aggregate")
    assert aggregate.image_feature_categories == ("Count",)
    assert aggregate.site_count


def test_perform_false_and_min_cells(tmp_path: Path) -> None:
    text = PROFILING_RECIPE.read_text()
    text = text.replace("normalize_negcon:\n  perform: true", "normalize_negcon:\n  perform: false")
    text = text.replace(
        "feature_select_negcon:\n  perform: true", "feature_select_negcon:\n  perform: false"
    )
    text = text.replace("  min_cells: 1\nnormalize_negcon", "  min_cells: 5\nnormalize_negcon")
    recipe = load_recipe(_write(tmp_path, text), workspace=WORKSPACE)
    assert [s.name for s in recipe.steps] == [
        "aggregate",
        "annotate",
        "normalize",
        "feature_select",
    ]
    assert recipe.step("normalize").params["reference"] == "Metadata_Object_Count >= 5"
    # a section switched off leaves the next one to read its files of an earlier run
    later = text.replace("normalize:\n  perform: true", "normalize:\n  perform: false")
    selected = load_recipe(_write(tmp_path, later, "b.yml"), workspace=WORKSPACE)
    step = selected.step("feature_select")
    assert step.input is None
    assert step.input_file == "{batch}/{plate}/{plate}_normalized.csv.gz"


def test_merge_keys_and_numeric_plate_names_load_as_in_profiling_recipe(tmp_path: Path) -> None:
    # a YAML merge key (PyYAML's FullLoader, which profiling-recipe uses, accepts it)
    merged = PROFILING_RECIPE.read_text().replace(
        "normalize:\n  perform: true", "normalize: &norm\n  perform: true", 1
    )
    start = merged.index("normalize_negcon:\n")
    end = merged.index("feature_select:", start)
    merged = (
        merged[:start] + "normalize_negcon:\n  <<: *norm\n  method: standardize\n" + merged[end:]
    )
    recipe = load_recipe(_write(tmp_path, merged), workspace=WORKSPACE)
    negcon = next(s for s in recipe.steps if s.name == "normalize_negcon")
    assert negcon.params["method"] == "standardize"
    assert negcon.params["mad_robustize_epsilon"] == 0
    # numeric barcodes: profiling-recipe reads plate names with str()
    workspace = tmp_path / "workspace"
    shutil.copytree(WORKSPACE, workspace)
    batch = workspace / "backend" / "2024_01_01_Batch1"
    (batch / "BR00000002" / "BR00000002.sqlite").rename(batch / "BR00000002" / "1086292104.sqlite")
    (batch / "BR00000002").rename(batch / "1086292104")
    barcodes = workspace / "metadata" / "platemaps" / "2024_01_01_Batch1" / "barcode_platemap.csv"
    barcodes.write_text(barcodes.read_text().replace("BR00000002", "1086292104"))
    numeric = _profiling_with(tmp_path, "- name: BR00000002", "- name: 1086292104")
    plates = [plate.plate for plate in load_recipe(numeric, workspace=workspace).plates]
    assert plates == ["BR00000001", "1086292104"]


def test_a_loaded_recipe_keeps_its_folders() -> None:
    from cytoplan.exceptions import ParameterError
    from cytoplan.recipe import run_recipe

    recipe = load_recipe(PROFILING_RECIPE, workspace=WORKSPACE)
    with pytest.raises(ParameterError, match="pass them to load_recipe"):
        run_recipe(recipe, output_dir="elsewhere")


@pytest.mark.parametrize(
    ("level", "key", "template"),
    [
        ("batch", "stacked", "{batch}/{plate}_selected.parquet"),
        ("all", "gct", "gct/{plate}.gct"),
    ],
)
def test_cytoplan_plate_name_in_a_multi_plate_file_is_an_error(
    tmp_path: Path, level: str, key: str, template: str
) -> None:
    step = f"  a:\n    op: feature_select\n    level: {level}\n    {key}: '{template}'\n"
    path = _write(tmp_path, _cytoplan_text(step))
    with pytest.raises(RecipeError, match=rf"recipe.yml:11: step a: {key} .* uses \{{plate\}}"):
        load_recipe(path)
    plate_level = step.replace(f"level: {level}", "level: plate")
    assert load_recipe(_write(tmp_path, _cytoplan_text(plate_level))).step("a").level == "plate"


def test_numbers_in_exponent_form_load_as_numbers(tmp_path: Path) -> None:
    # PyYAML reads an unquoted 1e-6 as text (YAML 1.1 wants 1.0e-6); profiling-recipe's
    # float() takes it, so configs written that way must load here too
    path = _profiling_with(
        tmp_path, "  mad_robustize_fudge_factor: 0\n", "  mad_robustize_fudge_factor: 1e-6\n"
    )
    recipe = load_recipe(path, workspace=WORKSPACE)
    assert recipe.step("normalize").params["mad_robustize_epsilon"] == 1e-6
    quoted = _profiling_with(
        tmp_path, "  mad_robustize_fudge_factor: 0\n", '  mad_robustize_fudge_factor: "1e-6"\n'
    )
    with pytest.raises(RecipeError, match="must be a number, not '1e-6'"):
        load_recipe(quoted, workspace=WORKSPACE)


def test_compression_is_checked_when_the_recipe_loads(tmp_path: Path) -> None:
    # a typo used to write plain .csv files silently (pycytominer raises)
    path = _profiling_with(tmp_path, "  compression: gzip\n", "  compression: gzp\n")
    _refused_at(path, "compression: gzp", "options.compression must be one of 'gzip', None")
    plain = _profiling_with(tmp_path, "  compression: gzip\n", "  compression: null\n")
    recipe = load_recipe(plain, workspace=WORKSPACE)
    assert recipe.step("normalize").output.endswith("_normalized.csv")


def test_cytoplan_output_compression_is_a_known_codec(tmp_path: Path) -> None:
    text = CYTOPLAN_RECIPE.read_text()
    assert "  format: parquet\n" in text
    bad = _write(
        tmp_path, text.replace("  format: parquet\n", "  format: parquet\n  compression: zip\n")
    )
    with pytest.raises(RecipeError, match=r"output.compression must be one of 'gzip', 'snappy'"):
        load_recipe(bad, workspace=WORKSPACE)
    good = _write(
        tmp_path, text.replace("  format: parquet\n", "  format: parquet\n  compression: gzip\n")
    )
    assert load_recipe(good, workspace=WORKSPACE).compression == "gzip"


def test_a_misspelt_profiling_recipe_operation_fails_when_the_recipe_loads(tmp_path: Path) -> None:
    # it used to fail only when the feature_select step ran, after the earlier levels
    path = _profiling_with(tmp_path, "    - variance_threshold\n", "    - variance_treshold\n")
    _refused_at(
        path,
        "operations:",
        r"feature_select parameter operations: unknown "
        r"'variance_treshold' \(did you mean 'variance_threshold'\?\)",
    )

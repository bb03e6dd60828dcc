"""Running recipes: levels and manifests, determinism, skipping, --force, interrupted runs."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest

from cytoplan.exceptions import RecipeError
from cytoplan.recipe import RunReport, load_recipe, run_recipe
from cytoplan.recipe.provenance import checksum

from .conftest import BATCH, CYTOPLAN_RECIPE, PLATES, WORKSPACE

MANIFEST = ".manifest.json"


def _is_temporary(path: Path, folder: Path) -> bool:
    """A writer's temporary (``.<name>.<id>.tmp``) or a file inside one."""
    return any(part.endswith(".tmp") for part in path.relative_to(folder).parts)


def _final_files(folder: Path, pattern: str = "*") -> list[Path]:
    """Files at their final names (what a reader sees), not writers' temporaries."""
    return [
        p for p in sorted(folder.rglob(pattern)) if p.is_file() and not _is_temporary(p, folder)
    ]


def _data_files(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in _final_files(folder)
        if not p.name.endswith(MANIFEST)
    }


def _manifests_without_timings(folder: Path) -> dict[str, dict[str, object]]:
    found = {}
    for path in sorted(folder.rglob("*" + MANIFEST)):
        data = json.loads(path.read_text())
        data.pop("timings")
        found[str(path.relative_to(folder))] = data
    return found


def _cli_run(out: Path, *extra: str, threads: int | None = None) -> subprocess.Popen[str]:
    env = dict(os.environ)
    if threads is not None:
        env["POLARS_MAX_THREADS"] = str(threads)
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cytoplan.cli",
            "run",
            str(CYTOPLAN_RECIPE),
            "--output-dir",
            str(out),
            *extra,
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_every_level_is_written_with_a_manifest(cytoplan_run: tuple[RunReport, Path]) -> None:
    report, out = cytoplan_run
    levels = report.outputs_by_level()
    assert sorted(levels) == ["3", "4a", "4b", "5"]
    consensus = pl.read_parquet(out / "consensus.parquet")
    selected = pl.read_parquet(
        out / BATCH / f"{BATCH}_normalized_feature_select_negcon_batch.parquet"
    )
    assert consensus.height == selected["Metadata_broad_sample"].n_unique()
    for paths in levels.values():
        for path in paths:
            manifest = json.loads(path.with_name(path.name + MANIFEST).read_text())
            assert manifest["output"]["size"] == path.stat().st_size
            assert manifest["output"]["checksum"] == checksum(path)["checksum"]
            assert manifest["recipe"]["sha256"] == report.recipe.sha256
            assert set(manifest["versions"]) >= {
                "cytoplan",
                "polars",
                "numpy",
                "pyarrow",
                "duckdb",
                "python",
            }
            assert manifest["inputs"] and all(i["size"] > 0 for i in manifest["inputs"])
    aggregated = out / BATCH / "BR00000001" / "BR00000001_aggregated.parquet"
    manifest = json.loads(aggregated.with_name(aggregated.name + MANIFEST).read_text())
    table = pl.read_parquet(aggregated)
    assert (manifest["output"]["rows"], manifest["output"]["columns"]) == (
        table.height,
        table.width,
    )
    assert manifest["inputs"][0]["path"] == f"backend/{BATCH}/BR00000001/BR00000001.sqlite"
    assert manifest["inputs"][0]["role"] == "single_cells"
    assert manifest["recipe"]["section"] == {
        "op": "aggregate",
        "method": "median",
        "object_count": True,
    }


def test_per_plate_split_equals_the_stacked_batch(cytoplan_run: tuple[RunReport, Path]) -> None:
    _, out = cytoplan_run
    stacked = pl.read_parquet(
        out / BATCH / f"{BATCH}_normalized_feature_select_negcon_batch.parquet"
    )
    parts = [pl.read_parquet(out / BATCH / p / f"{p}_feature_selected.parquet") for p in PLATES]
    assert pl.concat(parts).equals(stacked)
    assert [part["Metadata_Plate"].unique().to_list() for part in parts] == [[p] for p in PLATES]


def test_thread_counts_give_identical_outputs(
    cytoplan_run: tuple[RunReport, Path], tmp_path: Path
) -> None:
    _, clean = cytoplan_run
    runs = {n: _cli_run(tmp_path / f"t{n}", "--quiet", threads=n) for n in (1, 2)}
    for _n, process in runs.items():
        _, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
    one, two = tmp_path / "t1", tmp_path / "t2"
    assert _data_files(one) == _data_files(two) == _data_files(clean)
    assert len(_data_files(one)) == 13
    assert _manifests_without_timings(one) == _manifests_without_timings(two)


def test_second_run_skips_and_force_rewrites_identical_bytes(tmp_path: Path) -> None:
    shutil.copytree(WORKSPACE / "metadata", tmp_path / "ws" / "metadata")
    shutil.copytree(WORKSPACE / "backend", tmp_path / "ws" / "backend")
    recipe = tmp_path / "recipe.yml"
    text = CYTOPLAN_RECIPE.read_text().replace(
        "workspace: ../cpg0000-synthetic/workspace", f"workspace: {tmp_path / 'ws'}"
    )
    recipe.write_text(text)
    first = run_recipe(recipe)
    out = first.recipe.output_dir
    assert {r.status for r in first.results} == {"ran"}
    before = _data_files(out)
    second = run_recipe(recipe)
    assert {r.status for r in second.results} == {"skipped"}
    forced = run_recipe(recipe, force=True)
    assert {r.status for r in forced.results} == {"ran"}
    assert _data_files(out) == before

    # a changed recipe section re-runs that step and what depends on it
    recipe.write_text(text.replace("method: modz", "method: median"))
    changed = run_recipe(recipe)
    assert [r.task.step.name for r in changed.results if r.status == "ran"] == ["consensus"]

    # a changed input (the platemap) re-runs annotation onwards
    platemap = tmp_path / "ws" / "metadata" / "platemaps" / BATCH / "platemap" / "platemap_1.txt"
    platemap.write_text(platemap.read_text().replace("cmpd_0006", "cmpd_0006b"))
    rerun = run_recipe(recipe)
    ran = [r.task.label for r in rerun.results if r.status == "ran"]
    assert ran[0] == f"augmented {BATCH}/BR00000001"
    assert not any(label.startswith("aggregated") for label in ran)

    # a damaged output is rebuilt
    target = out / BATCH / "BR00000002" / "BR00000002_aggregated.parquet"
    target.write_bytes(target.read_bytes()[:100])
    repaired = run_recipe(recipe)
    assert next(r.task.label for r in repaired.results if r.status == "ran") == (
        f"aggregated {BATCH}/BR00000002"
    )
    assert pl.read_parquet(target).height == 24


def test_killed_run_leaves_no_partial_file_and_resumes(
    cytoplan_run: tuple[RunReport, Path], tmp_path: Path
) -> None:
    _, clean = cytoplan_run
    out = tmp_path / "killed"
    process = _cli_run(out, "--quiet")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        if _final_files(out, "*.parquet" + MANIFEST):  # the first output is complete
            break
        time.sleep(0.01)
    assert process.poll() is None, "the run ended before it could be killed"
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    written = _data_files(out)
    # the killed run's lock file stays; the kernel released its lock, so it does not
    # stop the next run, which removes it when done
    assert written.pop(".cytoplan-run.lock") == b""
    assert 0 < len(written) < 13
    # no partial file under a final name: every one is complete and equals the clean
    # run's (a SIGKILL may leave a writer's temporary, which the next run removes)
    clean_files = _data_files(clean)
    for name, data in written.items():
        assert data == clean_files[name], name
    resumed = _cli_run(out)
    stdout, err = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, err
    assert "up to date, skipped" in stdout
    assert _data_files(out) == clean_files
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]


def test_explain_runs_nothing(tmp_path: Path) -> None:
    from cytoplan.recipe import explain_recipe

    text = explain_recipe(CYTOPLAN_RECIPE, output_dir=tmp_path / "never")
    assert "consensus all plates" in text
    assert text.count("(not yet written)") >= 8
    assert not (tmp_path / "never").exists()
    recipe = load_recipe(CYTOPLAN_RECIPE)
    assert str(recipe.workspace) in text


def test_explain_tells_up_to_date_from_stale_outputs(
    cytoplan_run: tuple[RunReport, Path], tmp_path: Path
) -> None:
    from cytoplan.recipe import explain_recipe

    _, out = cytoplan_run
    copy = tmp_path / "out"
    shutil.copytree(out, copy)
    text = explain_recipe(CYTOPLAN_RECIPE, output_dir=copy, plans=False)
    assert "stale" not in text and "to write" not in text
    assert text.count("up to date)") == text.count("   out  ") >= 10

    aggregated = copy / BATCH / "BR00000001" / "BR00000001_aggregated.parquet"
    pl.read_parquet(aggregated).head(3).write_parquet(aggregated)  # changed behind the run
    (copy / "consensus.parquet").unlink()
    states = {
        line.split("  (")[0].split("out  ")[1]: line.split(", ", 1)[1].rstrip(")")
        for line in explain_recipe(CYTOPLAN_RECIPE, output_dir=copy, plans=False).splitlines()
        if line.strip().startswith("out ")
    }
    assert states[f"{BATCH}/BR00000001/BR00000001_aggregated.parquet"] == "stale, rewritten"
    assert states[f"{BATCH}/BR00000002/BR00000002_aggregated.parquet"] == "up to date"
    assert states["consensus.parquet"] == "to write"
    # the steps after a rewritten output wait for it (they used to say "up to date")
    after = f"{BATCH}/BR00000001/BR00000001_augmented.parquet"
    assert states[after] == "exists, checked again after its inputs"
    assert states[f"{BATCH}/BR00000002/BR00000002_augmented.parquet"] == "up to date"
    report = run_recipe(CYTOPLAN_RECIPE, output_dir=copy)
    ran = {r.task.label for r in report.results if r.status == "ran"}
    assert f"aggregated {BATCH}/BR00000001" in ran and f"aggregated {BATCH}/BR00000002" not in ran


def test_saved_statistics_are_recorded_and_can_be_reused(
    cytoplan_run: tuple[RunReport, Path], tmp_path: Path
) -> None:
    from cytoplan.ops.normalize import Normalizer

    _, out = cytoplan_run
    plate_dir = out / BATCH / "BR00000001"
    saved = plate_dir / "BR00000001_normalized_negcon_statistics.parquet"
    normalized = plate_dir / "BR00000001_normalized_negcon.parquet"
    manifest = json.loads(normalized.with_name(normalized.name + MANIFEST).read_text())
    assert manifest["statistics"] == [
        {"role": "saved", "path": f"{BATCH}/BR00000001/{saved.name}", **checksum(saved)}
    ]
    assert Normalizer.load(saved).feature_names_in_

    # apply plate 1's saved statistics to both plates instead of fitting
    recipe = tmp_path / "reuse.yml"
    recipe.write_text(
        "version: 1\n"
        f"workspace: {out}\n"
        "inputs:\n"
        f"  single_cells: {BATCH}/*/*_augmented.parquet\n"
        "steps:\n"
        "  reused:\n"
        "    op: normalize\n"
        f"    statistics: {saved}\n"
    )
    report = run_recipe(recipe, output_dir=tmp_path / "reused")
    assert [t.task.label for t in report.results] == [
        f"reused {BATCH}/BR00000001",
        f"reused {BATCH}/BR00000002",
    ]
    first = tmp_path / "reused" / BATCH / "BR00000001" / "BR00000001_reused.parquet"
    assert pl.read_parquet(first).equals(pl.read_parquet(normalized))
    used = json.loads(first.with_name(first.name + MANIFEST).read_text())
    assert used["statistics"][0]["role"] == "used"
    assert used["statistics"][0]["checksum"] == checksum(saved)["checksum"]
    assert {"role": "statistics"}.items() <= used["inputs"][-1].items()
    for extra, message in (
        ("    method: standardize\n", "from the saved file; remove method"),
        ("    save_statistics: again.parquet\n", "give one of them"),
    ):
        conflicting = tmp_path / "conflicting.yml"
        conflicting.write_text(recipe.read_text() + extra)
        with pytest.raises(RecipeError, match=message):
            run_recipe(conflicting, output_dir=tmp_path / "conflicting")


def test_batch_and_all_levels_across_two_batches_as_csv(
    cytoplan_run: tuple[RunReport, Path], tmp_path: Path
) -> None:
    import cytoplan as cp

    _, out = cytoplan_run
    ops = "[variance_threshold, correlation_threshold]"
    recipe = tmp_path / "two.yml"
    recipe.write_text(
        "version: 1\n"
        f"workspace: {out}\n"
        "output: {format: csv.gz, float_format: '%.4g'}\n"
        "inputs:\n"
        "  single_cells:\n"
        f"    - {{path: {BATCH}/BR00000001/BR00000001_augmented.parquet, batch: B1}}\n"
        f"    - {{path: {BATCH}/BR00000002/BR00000002_augmented.parquet, batch: B2}}\n"
        "steps:\n"
        "  normalized: {op: normalize, method: standardize}\n"
        f"  by_batch: {{op: feature_select, level: batch, operations: {ops}}}\n"
        f"  together: {{op: feature_select, input: normalized, level: all, operations: {ops},"
        " stacked: '{batch}_all.csv.gz', gct: 'gct/{batch}_all.gct'}\n"
        "  per_batch_consensus:\n"
        "    op: consensus\n"
        "    level: batch\n"
        "    replicate_columns: [Metadata_broad_sample]\n"
    )
    report = run_recipe(recipe, output_dir=tmp_path / "o")
    o = tmp_path / "o"
    labels = [r.task.label for r in report.results]
    assert labels[-5:] == [
        "by_batch batch B1",
        "by_batch batch B2",
        "together all plates",
        "per_batch_consensus batch B1",
        "per_batch_consensus batch B2",
    ]
    normalized = {
        b: pl.read_csv(o / b / p / f"{p}_normalized.csv.gz", infer_schema_length=None)
        for b, p in (("B1", "BR00000001"), ("B2", "BR00000002"))
    }
    # level all: one selection over both plates, split back per plate and per batch
    stacked = pl.concat(list(normalized.values()))
    expected = cp.feature_select(
        stacked, operations=["variance_threshold", "correlation_threshold"]
    )
    kept = expected.collect_schema().names()
    for b, p in (("B1", "BR00000001"), ("B2", "BR00000002")):
        part = pl.read_csv(o / b / p / f"{p}_together.csv.gz", infer_schema_length=None)
        assert part.columns == kept
        assert part["Metadata_Plate"].unique().to_list() == [p]
        assert pl.read_csv(o / f"{b}_all.csv.gz", infer_schema_length=None).equals(part)
        assert (o / "gct" / f"{b}_all.gct").read_text().startswith("#1.3\n")
        # level batch: each batch (one plate here) selects on its own
        alone = cp.feature_select(
            normalized[b], operations=["variance_threshold", "correlation_threshold"]
        )
        mine = pl.read_csv(o / b / p / f"{p}_by_batch.csv.gz", infer_schema_length=None)
        assert mine.columns == alone.collect_schema().names()
        consensus = pl.read_csv(o / b / f"{b}_per_batch_consensus.csv.gz", infer_schema_length=None)
        assert consensus.height == part["Metadata_broad_sample"].n_unique()
    # CSV floats follow the recipe's float_format
    text = (o / "B1" / "BR00000001" / "BR00000001_normalized.csv.gz").read_bytes()
    import gzip

    row = gzip.decompress(text).decode().splitlines()[1].split(",")
    numbers = [v for v in row if v.replace(".", "").replace("-", "").replace("e", "").isdigit()]
    assert numbers and all(
        len(v.lstrip("-").split("e")[0].replace(".", "").lstrip("0")) <= 4 for v in numbers
    )


def test_a_failing_step_names_the_step_and_recipe_line(
    cytoplan_run: tuple[RunReport, Path], tmp_path: Path
) -> None:
    from cytoplan.exceptions import CytoplanError

    _, out = cytoplan_run
    recipe = tmp_path / "fails.yml"
    recipe.write_text(
        "version: 1\n"
        f"workspace: {out}\n"
        "inputs:\n"
        f"  single_cells: {BATCH}/*/*_augmented.parquet\n"
        "steps:\n"
        "  normalized:\n"
        "    op: normalize\n"
        "    reference: \"Metadata_nope == 'negcon'\"\n"
    )
    with pytest.raises(
        CytoplanError, match=rf"normalized {BATCH}/BR00000001 \(recipe line 6\).*Metadata_nope"
    ):
        run_recipe(recipe, output_dir=tmp_path / "o")
    leftovers = [p for p in (tmp_path / "o").rglob("*") if p.is_file()]
    assert leftovers == []


def test_temporary_files_of_a_killed_run_are_removed(
    cytoplan_run: tuple[RunReport, Path], tmp_path: Path
) -> None:
    _, out = cytoplan_run
    recipe = tmp_path / "one.yml"
    recipe.write_text(
        "version: 1\n"
        f"workspace: {out}\n"
        "inputs:\n"
        f"  single_cells: {BATCH}/BR00000001/*_augmented.parquet\n"
        "steps:\n"
        "  normalized: {op: normalize}\n"
    )
    folder = tmp_path / "o" / BATCH / "BR00000001"
    folder.mkdir(parents=True)
    stale = [
        folder / ".BR00000001_normalized.parquet.0123456789ab.tmp",
        folder / ".BR00000001_normalized.parquet.manifest.json.ba9876543210.tmp",
    ]
    for path in stale:
        path.write_bytes(b"PAR1 half written")
    stale_folder = folder / ".BR00000001_normalized.parquet.fedcba987654.tmp"
    stale_folder.mkdir()
    (stale_folder / "BR00000001_normalized.parquet").write_bytes(b"PAR1 half written")
    stale.append(stale_folder)
    other = folder / ".unrelated.tmp"
    other.write_bytes(b"not ours")
    run_recipe(recipe, output_dir=tmp_path / "o")
    assert not any(path.exists() for path in stale)
    assert other.exists()
    assert pl.read_parquet(folder / "BR00000001_normalized.parquet").height == 24


def test_a_step_stopped_between_its_files_leaves_no_new_file_beside_an_old_manifest(
    tmp_path: Path,
) -> None:
    from cytoplan.exceptions import CytoplanError

    out = tmp_path / "out"
    run_recipe(CYTOPLAN_RECIPE, output_dir=out)
    # the same recipe with other operations, whose last output (the GCT) cannot be written
    changed = tmp_path / "changed.yml"
    text = CYTOPLAN_RECIPE.read_text()
    changed.write_text(
        text.replace(
            "operations: [variance_threshold, correlation_threshold, drop_na_columns, blocklist]",
            "operations: [variance_threshold, drop_na_columns]",
        )
        .replace("gct: true", 'gct: "gctdir/{batch}.gct"')
        .replace("workspace: ", f"workspace: {CYTOPLAN_RECIPE.parent}/")
    )
    (out / "gctdir" / f"{BATCH}.gct").mkdir(parents=True)
    with pytest.raises(CytoplanError, match="it is a folder"):
        run_recipe(changed, output_dir=out)
    described = 0
    for manifest in out.rglob("*" + MANIFEST):
        data = json.loads(manifest.read_text())
        output = manifest.with_name(manifest.name.removesuffix(MANIFEST))
        assert data["output"]["checksum"] == checksum(output)["checksum"], output
        described += 1
    selected = out / BATCH / "BR00000001" / "BR00000001_feature_selected.parquet"
    assert selected.exists() and not selected.with_name(selected.name + MANIFEST).exists()
    assert described >= 6  # the earlier levels keep theirs
    (out / "gctdir" / f"{BATCH}.gct").rmdir()
    report = run_recipe(changed, output_dir=out)  # the stopped step runs again
    assert "feature_selected" in {r.task.step.name for r in report.results if r.status == "ran"}


def test_batches_sharing_plate_names_keep_their_own_rows(tmp_path: Path) -> None:
    from .conftest import PROFILING_RECIPE

    workspace = tmp_path / "workspace"
    shutil.copytree(WORKSPACE, workspace, ignore=shutil.ignore_patterns("profiles*"))
    for folder in ("backend", "metadata/platemaps"):
        shutil.copytree(workspace / folder / BATCH, workspace / folder / "Batch2")
    text = PROFILING_RECIPE.read_text().replace("level: batch", "level: all", 1)
    second = text[text.rindex("---") :].replace(f"batch: {BATCH}", "batch: Batch2")
    recipe = tmp_path / "two_batches.yml"
    recipe.write_text(text + "\n" + second)
    run_recipe(recipe, workspace=workspace, output_dir=tmp_path / "o" / "profiles")
    stem = "_normalized_feature_select_all.csv.gz"
    aggregated = pl.read_csv(
        tmp_path / "o" / "profiles" / BATCH / "BR00000001" / "BR00000001.csv.gz"
    )
    for batch in (BATCH, "Batch2"):
        own = pl.read_csv(tmp_path / "o" / "profiles" / batch / "BR00000001" / f"BR00000001{stem}")
        assert own.height == aggregated.height  # not the other batch's rows too
        stacked = pl.read_csv(tmp_path / "o" / "gct" / batch / f"{batch}{stem}")
        assert stacked.height == 2 * aggregated.height
        assert stacked["Metadata_batch"].unique().to_list() == [batch]


def test_a_cytoplan_step_across_batches_sharing_plate_names_is_refused(
    cytoplan_run: tuple[RunReport, Path], tmp_path: Path
) -> None:
    from cytoplan.exceptions import RecipeError

    _, out = cytoplan_run
    plate = f"{BATCH}/BR00000001/BR00000001_augmented.parquet"
    recipe = tmp_path / "same_plates.yml"
    recipe.write_text(
        "version: 1\n"
        f"workspace: {out}\n"
        "inputs:\n"
        "  single_cells:\n"
        f"    - {{path: {plate}, batch: B1}}\n"
        f"    - {{path: {plate}, batch: B2}}\n"
        "steps:\n"
        "  together: {op: feature_select, level: all, operations: [variance_threshold]}\n"
    )
    with pytest.raises(RecipeError, match=r"share plate names \(BR00000001\)"):
        run_recipe(recipe, output_dir=tmp_path / "o")
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").rglob("*.parquet"))


def _profiling_variant(
    profiling_run: tuple[RunReport, Path], tmp_path: Path, old: str, new: str
) -> tuple[Path, Path]:
    """A copy of the profiling-recipe run's outputs, and the recipe with ``old`` → ``new``."""
    from .conftest import PROFILING_RECIPE

    out = tmp_path / "profiles"
    shutil.copytree(profiling_run[1], out)
    text = PROFILING_RECIPE.read_text()
    assert old in text
    recipe = tmp_path / "variant.yml"
    recipe.write_text(text.replace(old, new, 1))
    return recipe, out


def test_sections_switched_off_read_the_files_of_an_earlier_run(
    profiling_run: tuple[RunReport, Path], tmp_path: Path
) -> None:
    from cytoplan.exceptions import RecipeError

    recipe, out = _profiling_variant(
        profiling_run, tmp_path, "aggregate:\n  perform: true", "aggregate:\n  perform: false"
    )
    first = out / BATCH / "BR00000001"
    augmented = first / "BR00000001_augmented.csv.gz"
    before = augmented.read_bytes()
    augmented.with_name(augmented.name + MANIFEST).unlink()  # annotate must run again
    report = run_recipe(recipe, workspace=WORKSPACE, output_dir=out)
    ran = [r.task.label for r in report.results if r.status == "ran"]
    assert f"annotate {BATCH}/BR00000001" in ran
    assert augmented.read_bytes() == before  # read the level-3 file, not the single cells
    used = json.loads(augmented.with_name(augmented.name + MANIFEST).read_text())["inputs"][0]
    assert used["role"] == "profiles" and used["path"].endswith("BR00000001.csv.gz")
    (first / "BR00000001.csv.gz").unlink()
    augmented.with_name(augmented.name + MANIFEST).unlink()
    with pytest.raises(RecipeError, match=r"switched off with perform: false.*does not exist"):
        run_recipe(recipe, workspace=WORKSPACE, output_dir=out)


def test_changing_samples_reruns_only_what_uses_them(
    profiling_run: tuple[RunReport, Path], tmp_path: Path
) -> None:
    recipe, out = _profiling_variant(
        profiling_run, tmp_path, "  samples: all\n", "  samples: Metadata_Well != 'Z99'\n"
    )
    report = run_recipe(recipe, workspace=WORKSPACE, output_dir=out)
    ran = {r.task.step.name for r in report.results if r.status == "ran"}
    # normalize and what follows it re-run; the negcon sections do not use samples
    assert ran == {"normalize", "feature_select"}


def test_a_second_run_on_the_same_output_folder_is_refused(tmp_path: Path) -> None:
    from cytoplan.recipe.store import exclusive_run

    out = tmp_path / "out"
    with exclusive_run(out):  # as a run in another process holds it
        with pytest.raises(RecipeError, match="another cytoplan run is writing to"):
            run_recipe(CYTOPLAN_RECIPE, output_dir=out)
        assert [p.name for p in out.iterdir()] == [".cytoplan-run.lock"]  # nothing written
    report = run_recipe(CYTOPLAN_RECIPE, output_dir=out)  # released: runs
    assert {r.status for r in report.results} == {"ran"}


def test_a_parquet_codec_named_in_the_recipe_is_the_one_written(tmp_path: Path) -> None:
    # gzip used to be dropped for Parquet outputs (written with the default zstd)
    import pyarrow.parquet as pq

    recipe = tmp_path / "recipe.yml"
    text = CYTOPLAN_RECIPE.read_text().replace(
        "workspace: ../cpg0000-synthetic/workspace", f"workspace: {WORKSPACE}"
    )
    recipe.write_text(
        text.replace("  format: parquet\n", "  format: parquet\n  compression: gzip\n")
    )
    report = run_recipe(recipe, output_dir=tmp_path / "out")
    written = next((tmp_path / "out").rglob("*_aggregated.parquet"))
    assert {r.status for r in report.results} == {"ran"}
    assert pq.ParquetFile(written).metadata.row_group(0).column(0).compression == "GZIP"


@pytest.mark.parametrize("compartment", ["nucleii", "mito"])
def test_a_compartment_without_features_stops_the_step(tmp_path: Path, compartment: str) -> None:
    # a typo used to drop the compartment's features with exit code 0
    from cytoplan.exceptions import CytoplanError

    from .conftest import PROFILING_RECIPE

    text = PROFILING_RECIPE.read_text()
    assert "  - nuclei\naggregate:" in text
    recipe = tmp_path / "recipe.yml"
    recipe.write_text(text.replace("  - nuclei\naggregate:", f"  - {compartment}\naggregate:", 1))
    expected = rf"compartment\(s\) \['{compartment.title()}'\] of the recipe have no feature"
    with pytest.raises(CytoplanError, match=expected):
        run_recipe(recipe, workspace=WORKSPACE, output_dir=tmp_path / "profiles")

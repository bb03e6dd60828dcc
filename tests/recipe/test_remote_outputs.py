"""Remote outputs: a recipe's output folder on S3 (the loopback moto server).

The bundled cytoplan recipe is run once locally (``cytoplan_run``) and into
``s3://outputs/<prefix>``; every object must equal the local file byte for byte,
with its manifest beside it; a second run skips every step; ``force`` re-runs;
a failed upload leaves no partial object and keeps the previous one.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cytoplan.exceptions import RecipeError, SourceError
from cytoplan.recipe import RunReport, explain_recipe, load_recipe, plan, run_recipe
from cytoplan.recipe.model import Recipe

from .conftest import BATCH, CYTOPLAN_RECIPE, PROFILING_RECIPE, WORKSPACE

pytest.importorskip("moto")
pytest.importorskip("s3fs")

BUCKET = "outputs"
MANIFEST = ".manifest.json"
_AWS_VARIABLES = (
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_SKIP_SIGNATURE",
    "AWS_ALLOW_HTTP",
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from cytoplan.testing.s3 import LocalS3Server

    empty = tmp_path_factory.mktemp("aws")
    with pytest.MonkeyPatch.context() as patch, LocalS3Server() as s3:
        for name in _AWS_VARIABLES:  # no test may reach another address
            patch.delenv(name, raising=False)
        patch.setenv("AWS_CONFIG_FILE", str(empty / "config"))
        patch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(empty / "credentials"))
        patch.setenv("AWS_EC2_METADATA_DISABLED", "true")
        s3.create_bucket(BUCKET)
        yield s3


def _remote_recipe(server: Any, prefix: str, path: Path = CYTOPLAN_RECIPE, **load: Any) -> Recipe:
    recipe = load_recipe(path, output_dir=f"s3://{BUCKET}/{prefix}", **load)
    return dataclasses.replace(recipe, output_storage_options=server.storage_options())


def _object(server: Any, key: str) -> bytes:
    body: bytes = server.client().get_object(Bucket=BUCKET, Key=key)["Body"].read()
    return body


def _relative_files(root: Path) -> dict[str, Path]:
    return {p.relative_to(root).as_posix(): p for p in root.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def remote_run(server: Any) -> tuple[RunReport, str]:
    prefix = f"run-{uuid.uuid4().hex[:8]}"
    return run_recipe(_remote_recipe(server, prefix)), prefix


def _comparable(manifest: dict[str, Any]) -> dict[str, Any]:
    """A manifest without what differs between runs (timings) and stores (the ETag)."""
    manifest = json.loads(json.dumps(manifest))
    manifest.pop("timings")
    manifest["output"].pop("etag", None)
    return manifest


def test_objects_are_byte_identical_to_a_local_run(
    server: Any, remote_run: tuple[RunReport, str], cytoplan_run: tuple[RunReport, Path]
) -> None:
    report, prefix = remote_run
    _, local_root = cytoplan_run
    assert [r.status for r in report.results] == ["ran"] * len(report.results)
    local = _relative_files(local_root)
    keys = server.keys(BUCKET, prefix + "/")
    remote = {key[len(prefix) + 1 :] for key in keys}
    assert remote == set(local)  # same files, manifests included; no temporary key
    data = sorted(name for name in remote if not name.endswith(MANIFEST))
    assert len(data) == sum(len(task.outputs) for task in plan(report.recipe))
    assert all(f"{name}{MANIFEST}" in remote for name in data)
    for name in data:
        assert _object(server, f"{prefix}/{name}") == local[name].read_bytes(), name
    # the outputs the runner reports are the object URLs, one per data key
    urls = sorted(u for paths in report.outputs_by_level().values() for u in paths)  # type: ignore[type-var]
    assert all(isinstance(u, str) and u.startswith(f"s3://{BUCKET}/{prefix}/") for u in urls)


def test_manifests_match_the_local_run_and_record_the_etag(
    server: Any, remote_run: tuple[RunReport, str], cytoplan_run: tuple[RunReport, Path]
) -> None:
    _, prefix = remote_run
    _, local_root = cytoplan_run
    client = server.client()
    for name, path in _relative_files(local_root).items():
        if not name.endswith(MANIFEST):
            continue
        remote = json.loads(_object(server, f"{prefix}/{name}"))
        head = client.head_object(Bucket=BUCKET, Key=f"{prefix}/{name[: -len(MANIFEST)]}")
        assert remote["output"]["etag"] == head["ETag"].strip('"')
        assert remote["output"]["size"] == head["ContentLength"]
        # same paths (relative to the output folder), checksums, inputs and fingerprint
        assert _comparable(remote) == _comparable(json.loads(path.read_text())), name


def test_second_run_skips_every_step_without_writing(
    server: Any, remote_run: tuple[RunReport, str]
) -> None:
    _, prefix = remote_run
    server.reset_log()
    again = run_recipe(_remote_recipe(server, prefix))
    assert [r.status for r in again.results] == ["skipped"] * len(again.results)
    requests = server.requests
    methods = {r.method for r in requests}
    assert methods <= {"GET", "HEAD"}, methods
    # the manifests (and a listing) decide: no data object is read
    read = [r.path for r in requests if r.method == "GET" and f"/{prefix}/" in r.path]
    assert read and all(path.endswith(MANIFEST) for path in read), read
    # each manifest once (fetched together before the first step)
    keys = server.keys(BUCKET, prefix + "/")
    manifests = [f"/{BUCKET}/{k}" for k in keys if k.endswith(MANIFEST)]
    assert sorted(read) == sorted(manifests)


def test_a_deleted_object_reruns_its_step_only(
    server: Any, remote_run: tuple[RunReport, str]
) -> None:
    _, prefix = remote_run
    key = f"{prefix}/{BATCH}/BR00000002/BR00000002_augmented.parquet"
    before = _object(server, key)
    server.client().delete_object(Bucket=BUCKET, Key=key)
    report = run_recipe(_remote_recipe(server, prefix))
    ran = [r.task.label for r in report.results if r.status == "ran"]
    # the rebuilt object has the same bytes, so the steps after it stay up to date
    assert ran == [f"augmented {BATCH}/BR00000002"]
    assert _object(server, key) == before


def test_force_reruns_every_step(server: Any, remote_run: tuple[RunReport, str]) -> None:
    _, prefix = remote_run
    key = f"{prefix}/consensus.parquet"
    before = _object(server, key)
    manifest = json.loads(_object(server, key + MANIFEST))
    report = run_recipe(_remote_recipe(server, prefix), force=True)
    assert [r.status for r in report.results] == ["ran"] * len(report.results)
    assert _object(server, key) == before
    rewritten = json.loads(_object(server, key + MANIFEST))
    assert rewritten["fingerprint"] == manifest["fingerprint"]
    assert not [k for k in server.keys(BUCKET, prefix + "/") if k.endswith(".tmp")]


def test_failed_upload_leaves_no_partial_object_and_keeps_the_old_one(server: Any) -> None:
    prefix = f"fail-{uuid.uuid4().hex[:8]}"
    recipe = _remote_recipe(server, prefix)
    first = f"{prefix}/{BATCH}/BR00000001/BR00000001_aggregated.parquet"
    second = f"{prefix}/{BATCH}/BR00000002/BR00000002_aggregated.parquet"
    server.put(BUCKET, second, b"a good object from an earlier run")
    stale = f"{prefix}/{BATCH}/BR00000001/.BR00000001_aggregated.parquet.0123abcd.tmp"
    server.put(BUCKET, stale, b"left by a killed run")
    server.fail_next(f"/{BUCKET}/{second}", 1, status=403)
    with pytest.raises(SourceError) as caught:
        run_recipe(recipe)
    message = str(caught.value)
    assert f"aggregated {BATCH}/BR00000002 (recipe line" in message
    assert "access denied to write" in message and second in message
    keys = server.keys(BUCKET, prefix + "/")
    assert stale not in keys  # removed at the start of the run
    assert not [k for k in keys if k.endswith(".tmp")]  # the failed upload's temporary key
    assert _object(server, second) == b"a good object from an earlier run"
    assert second + MANIFEST not in keys
    assert {first, first + MANIFEST} <= set(keys)  # the step before it is complete

    report = run_recipe(recipe)  # resumes: the failed step and what follows
    statuses = {r.task.label: r.status for r in report.results}
    assert statuses[f"aggregated {BATCH}/BR00000001"] == "skipped"
    assert statuses[f"aggregated {BATCH}/BR00000002"] == "ran"
    assert _object(server, second) != b"a good object from an earlier run"


def test_explain_shows_remote_outputs(server: Any, remote_run: tuple[RunReport, str]) -> None:
    _, prefix = remote_run
    text = explain_recipe(_remote_recipe(server, prefix), plans=False)
    assert f"output    s3://{BUCKET}/{prefix}" in text
    assert "consensus.parquet  (stacked, up to date)" in text
    fresh = explain_recipe(_remote_recipe(server, "nothing-here"), plans=False)
    assert "consensus.parquet  (stacked, to write)" in fresh


def test_cli_run_with_an_s3_output_dir(
    server: Any, remote_run: tuple[RunReport, str], tmp_path: Path
) -> None:
    _, reference = remote_run
    prefix = f"cli-{uuid.uuid4().hex[:8]}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(server.environment())
    env["AWS_CONFIG_FILE"] = str(tmp_path / "config")
    env["AWS_SHARED_CREDENTIALS_FILE"] = str(tmp_path / "credentials")
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    command = [sys.executable, "-m", "cytoplan.cli", "run", str(CYTOPLAN_RECIPE)]
    command += ["--output-dir", f"s3://{BUCKET}/{prefix}"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "8 step(s) run, 0 up to date" in done.stdout
    assert f"s3://{BUCKET}/{prefix}/consensus.parquet" in done.stdout
    assert not (tmp_path / "s3:").exists() and not Path("s3:").exists()
    keys = [k[len(prefix) + 1 :] for k in server.keys(BUCKET, prefix + "/")]
    assert keys == [k[len(reference) + 1 :] for k in server.keys(BUCKET, reference + "/")]
    for key in keys:
        if not key.endswith(MANIFEST):
            assert _object(server, f"{prefix}/{key}") == _object(server, f"{reference}/{key}")
    again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert "0 step(s) run, 8 up to date" in again.stdout


def test_profiling_recipe_dialect_writes_to_s3_like_a_local_run(
    server: Any, profiling_run: tuple[RunReport, Path]
) -> None:
    _, local_root = profiling_run
    prefix = f"pr-{uuid.uuid4().hex[:8]}"
    recipe = _remote_recipe(server, f"{prefix}/profiles", PROFILING_RECIPE, workspace=WORKSPACE)
    assert recipe.output_dir == f"s3://{BUCKET}/{prefix}/profiles"
    local = _relative_files(local_root.parent)  # profiles/ and its sibling gct/
    (gct,) = [n for n in local if n.startswith("gct/") and n.endswith(".gct")]
    folder, _, name = gct.rpartition("/")
    stale = f"{prefix}/{folder}/.{name}.feedbeef.tmp"  # left by a killed upload
    server.put(BUCKET, stale, b"partial")
    report = run_recipe(recipe)
    assert {r.status for r in report.results} == {"ran"}
    remote = {k[len(prefix) + 1 :] for k in server.keys(BUCKET, prefix + "/")}
    assert stale[len(prefix) + 1 :] not in remote
    assert remote == set(local)
    for name in remote:
        if not name.endswith(MANIFEST):
            assert _object(server, f"{prefix}/{name}") == local[name].read_bytes(), name
    assert {r.status for r in run_recipe(recipe).results} == {"skipped"}


def test_profiling_recipe_output_dir_url_in_the_file(tmp_path: Path) -> None:
    text = PROFILING_RECIPE.read_text()
    assert "output_dir: profiles" in text
    remote = tmp_path / "remote.yml"
    remote.write_text(text.replace("output_dir: profiles", "output_dir: s3://lab/profiles/"))
    recipe = load_recipe(remote, workspace=WORKSPACE)
    assert recipe.output_dir == "s3://lab/profiles"
    paths = [o.path for task in plan(recipe) for o in task.outputs]
    assert all(isinstance(p, str) for p in paths)
    beside = [p for p in paths if not str(p).startswith("s3://lab/profiles/")]
    # profiling-recipe's GCT goes beside the output folder (../gct/), in the same bucket
    assert beside and all(str(p).startswith("s3://lab/gct/") for p in beside)
    line = text.splitlines().index("output_dir: profiles") + 1
    bad = tmp_path / "bad.yml"
    bad.write_text(text.replace("output_dir: profiles", "output_dir: https://lab.org/profiles"))
    with pytest.raises(RecipeError, match=rf"bad\.yml:{line}: output_dir: 'https://lab\.org"):
        load_recipe(bad, workspace=WORKSPACE)


def test_other_url_schemes_are_rejected(tmp_path: Path) -> None:
    lines = CYTOPLAN_RECIPE.read_text().splitlines()
    at = next(i for i, line in enumerate(lines) if line.strip().startswith("dir:"))
    lines[at] = "  dir: gs://lab/profiles"
    recipe = tmp_path / "gs.yml"
    recipe.write_text("\n".join(lines) + "\n")
    with pytest.raises(RecipeError, match=rf"gs\.yml:{at + 1}: output\.dir: 'gs://lab/profiles'"):
        load_recipe(recipe, workspace=WORKSPACE)
    with pytest.raises(RecipeError, match=r"--output-dir / output_dir= 'https://x/y'"):
        load_recipe(CYTOPLAN_RECIPE, output_dir="https://x/y")


@pytest.mark.parametrize("where", ["s3", "local"])
def test_saved_statistics_applied_from_the_bucket_or_a_local_file(
    server: Any,
    remote_run: tuple[RunReport, str],
    cytoplan_run: tuple[RunReport, Path],
    tmp_path: Path,
    where: str,
) -> None:
    import polars as pl

    from cytoplan.recipe.provenance import checksum

    _, fitted = remote_run
    _, local_root = cytoplan_run
    name = f"{BATCH}/BR00000001/BR00000001_normalized_negcon_statistics.parquet"
    saved = f"s3://{BUCKET}/{fitted}/{name}" if where == "s3" else str(local_root / name)
    recipe_file = tmp_path / "reuse.yml"
    recipe_file.write_text(
        "version: 1\n"
        f"workspace: {local_root}\n"
        "inputs:\n"
        f"  single_cells: {BATCH}/*/*_augmented.parquet\n"
        "steps:\n"
        "  reused:\n"
        "    op: normalize\n"
        f"    statistics: {saved}\n"
    )
    prefix = f"reuse-{where}-{uuid.uuid4().hex[:8]}"
    recipe = _remote_recipe(server, prefix, recipe_file)
    report = run_recipe(recipe)
    assert [r.status for r in report.results] == ["ran", "ran"]
    key = f"{prefix}/{BATCH}/BR00000001/BR00000001_reused.parquet"
    table = pl.read_parquet(_object(server, key))
    normalized = local_root / BATCH / "BR00000001" / "BR00000001_normalized_negcon.parquet"
    assert table.equals(pl.read_parquet(normalized))
    used = json.loads(_object(server, key + MANIFEST))["statistics"][0]
    # the statistics' identity is their SHA-256 (the object's manifest records it), not the ETag
    assert used["role"] == "used"
    assert used["path"] == (saved if where == "s3" else name)  # local: relative to the workspace
    assert (used["checksum"], used["method"]) == (checksum(local_root / name)["checksum"], "sha256")
    assert {r.status for r in run_recipe(recipe).results} == {"skipped"}


def test_missing_bucket_is_a_source_error_before_any_step(server: Any) -> None:
    recipe = load_recipe(CYTOPLAN_RECIPE, output_dir="s3://no-such-bucket/profiles")
    recipe = dataclasses.replace(recipe, output_storage_options=server.storage_options())
    lines: list[str] = []
    with pytest.raises(SourceError, match=r"not found: 's3://no-such-bucket/profiles/'"):
        run_recipe(recipe, log=lines.append)
    assert lines == []  # nothing computed


def test_a_url_squashed_into_a_path_is_refused() -> None:
    with pytest.raises(RecipeError, match=r"pass the output folder as a string"):
        load_recipe(CYTOPLAN_RECIPE, output_dir=Path("s3://lab/profiles"))


def test_transient_upload_errors_are_retried(server: Any) -> None:
    prefix = f"retry-{uuid.uuid4().hex[:8]}"
    key = f"{prefix}/consensus.parquet"
    server.fail_next(f"/{BUCKET}/{key}", 2, status=503)
    report = run_recipe(_remote_recipe(server, prefix))
    assert {r.status for r in report.results} == {"ran"}
    failed = [r for r in server.requests if r.path == f"/{BUCKET}/{key}" and r.status == 503]
    assert len(failed) == 2  # both injected errors were met, then the copy succeeded
    manifest = json.loads(_object(server, key + MANIFEST))
    assert manifest["output"]["size"] == len(_object(server, key))

"""Run a recipe: per-plate steps, then batch-level steps, each output with its manifest.

A recipe becomes a list of :class:`Task` (one step applied to one plate, one
batch or all plates). Each task reads the files written by the step it names
as ``input`` — so a batch is resumable, and each level on disk is exactly what
the next one read — runs the public function (``cytoplan.aggregate``, ...),
writes its outputs atomically with :func:`~cytoplan.io.sinks.write_profiles`,
then writes ``<output>.manifest.json`` (:mod:`cytoplan.recipe.provenance`).

**Remote output folder.** With ``output: {dir: s3://bucket/prefix}`` (or
``--output-dir s3://...``) each task writes into a local staging folder and
publishes every finished output, then its manifest, to the bucket atomically
(:mod:`cytoplan.recipe.store`); the skip decision reads the manifests in the
bucket. The data bytes are those of a local run.

**Skipping.** A task is skipped when every output exists, its manifest records
the same *fingerprint* — a SHA-256 over the step's recipe section, its resolved
parameters, the output options and the checksum of every input — and the
output's size and checksum still match the manifest. ``force=True`` re-runs
everything.

Examples
--------
>>> import pathlib, cytoplan
>>> root = pathlib.Path(cytoplan.__file__).resolve().parents[2]
>>> tasks = plan(load_recipe(root / "data_fixtures" / "recipes" / "cytoplan.yml"))
>>> for task in tasks[-3:]:
...     print(task.label)
normalized_negcon 2024_01_01_Batch1/BR00000002
feature_selected batch 2024_01_01_Batch1
consensus all plates
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from cytoplan.exceptions import CytoplanError, ParameterError, RecipeError, SchemaError
from cytoplan.recipe.load import load_recipe
from cytoplan.recipe.model import PlateInput, Recipe, Step
from cytoplan.recipe.provenance import checksum, package_versions
from cytoplan.recipe.store import (
    LocalStore,
    Location,
    OutputStore,
    exclusive_run,
    open_store,
)

__all__ = ["OutputFile", "RunReport", "Task", "TaskResult", "explain_recipe", "plan", "run_recipe"]

PLATE_COLUMN = "Metadata_Plate"
_SQLITE_SUFFIXES = (".sqlite", ".sqlite3", ".db")


@dataclass(frozen=True)
class OutputFile:
    """One file a task writes.

    ``kind`` is ``plate`` (one plate's rows), ``stacked`` (the step's whole
    result), ``gct`` or ``statistics`` (fitted normalizer statistics).
    ``path`` is a local file, or an object URL (str) when the output folder is
    an ``s3://`` prefix.
    """

    path: Location
    kind: str
    plates: tuple[str, ...]
    batch: str | None


@dataclass(frozen=True)
class Task:
    """One step applied to one plate (``plate``), one batch or all plates."""

    step: Step
    batch: str | None
    plates: tuple[PlateInput, ...]
    inputs: tuple[Location, ...]
    outputs: tuple[OutputFile, ...]
    statistics: tuple[Location, ...] = ()

    @property
    def label(self) -> str:
        """``step plate`` / ``step batch`` / ``step all plates``."""
        if self.step.level == "plate":
            return f"{self.step.name} {self.plates[0].key}"
        if self.step.level == "batch":
            return f"{self.step.name} batch {self.batch}"
        return f"{self.step.name} all plates"


@dataclass(frozen=True)
class TaskResult:
    """What happened to a task: ``ran`` or ``skipped`` (outputs up to date)."""

    task: Task
    status: str
    seconds: float


@dataclass
class RunReport:
    """Every task's result, in order, and the recipe's warnings."""

    recipe: Recipe
    results: list[TaskResult] = field(default_factory=list)

    def outputs_by_level(self) -> dict[str, list[Location]]:
        """Data outputs (not manifests) per profile level, e.g. ``{"4a": [...]}``.

        Local files are Paths, objects in a remote output folder URLs (str).
        """
        levels: dict[str, list[Location]] = {}
        for result in self.results:
            level = result.task.step.data_level
            paths = [o.path for o in result.task.outputs if o.kind != "statistics"]
            levels.setdefault(level, []).extend(paths)
        return levels


# ----------------------------------------------------------------------------- planning


def _resolve(recipe: Recipe, template: str, **names: str | None) -> Location:
    try:
        text = template.format(**{k: v or "" for k, v in names.items()})
    except (KeyError, IndexError) as error:
        msg = f"output template {template!r} uses an unknown name {error}; use {{batch}}, {{plate}}"
        raise RecipeError(msg) from None
    if isinstance(recipe.output_dir, str):  # an s3:// prefix
        if "://" in text:
            return text
        if Path(text).is_absolute():  # a local file (e.g. statistics saved elsewhere)
            return Path(text)
        # keys below the bucket; "../" climbs the prefix (profiling-recipe's ../gct/)
        scheme, _, rest = recipe.output_dir.partition("://")
        bucket, _, prefix = rest.partition("/")
        key = posixpath.normpath(posixpath.join("/", prefix, text.lstrip("/"))).lstrip("/")
        if not key:
            msg = f"output template {template!r} names no object below {recipe.output_dir!r}"
            raise RecipeError(msg)
        return f"{scheme}://{bucket}/{key}"
    return (recipe.output_dir / text).resolve()


def _step_outputs(
    recipe: Recipe, step: Step, batch: str | None, plates: list[PlateInput]
) -> list[OutputFile]:
    names = [plate.plate for plate in plates]
    if step.batch_column is None and len(set(names)) < len(names):
        repeated = sorted({name for name in names if names.count(name) > 1})
        msg = (
            f"step {step.name} (recipe line {step.line}) puts together batches that share "
            f"plate names ({', '.join(repeated)}) and its rows carry no batch column to tell "
            "them apart; give the plates distinct names or run the step at level: batch"
        )
        raise RecipeError(msg)
    outputs: list[OutputFile] = []
    if step.output is not None:
        for plate in plates:
            outputs.append(
                OutputFile(
                    _resolve(recipe, step.output, batch=plate.batch, plate=plate.plate),
                    "plate",
                    (plate.plate,),
                    plate.batch,
                )
            )
    if step.save_statistics is not None:
        for plate in plates:
            path = _resolve(recipe, step.save_statistics, batch=plate.batch, plate=plate.plate)
            outputs.append(OutputFile(path, "statistics", (plate.plate,), plate.batch))
    for template, kind in ((step.stacked, "stacked"), (step.gct, "gct")):
        if template is None:
            continue
        if step.level == "all" and "{batch}" in template:
            for name in dict.fromkeys(p.batch for p in plates):
                members = tuple(p.plate for p in plates if p.batch == name)
                outputs.append(
                    OutputFile(_resolve(recipe, template, batch=name), kind, members, name)
                )
        else:
            outputs.append(
                OutputFile(
                    _resolve(
                        recipe,
                        template,
                        batch=batch or "all",
                        plate=plates[0].plate if step.level == "plate" else "",
                    ),
                    kind,
                    tuple(p.plate for p in plates),
                    batch,
                )
            )
    return outputs


def _input_files(
    recipe: Recipe, step: Step, plates: list[PlateInput], made: dict[str, dict[str, list[Location]]]
) -> list[Location]:
    if step.input is None and step.input_file is not None:
        return [_earlier_file(recipe, step, plate) for plate in plates]
    if step.input is None:
        return [p.source for p in plates]
    produced = made[step.input]
    files: list[Location] = []
    for plate in plates:
        files.extend(produced.get(plate.key, []))
    if not files:  # the input step writes stacked files only (e.g. consensus)
        keys = {"all"} | {p.batch for p in plates}
        for key in keys:
            files.extend(produced.get(f"stacked:{key}", []))
    if not files:
        msg = (
            f"{recipe.path}:{step.line}: step {step.name} reads {step.input!r}, "
            "which writes no table for these plates"
        )
        raise RecipeError(msg)
    return list(dict.fromkeys(files))


def _earlier_file(recipe: Recipe, step: Step, plate: PlateInput) -> Location:
    """The file of an earlier level that ``step`` reads for ``plate`` (``input_file``)."""
    assert step.input_file is not None
    path = _resolve(recipe, step.input_file, batch=plate.batch, plate=plate.plate)
    if isinstance(path, Path) and not path.is_file():
        msg = (
            f"{recipe.path}:{step.line}: step {step.name} reads {str(path)!r}, the output of "
            "a step switched off with perform: false, and it does not exist; switch that "
            "step on or write the file first"
        )
        raise RecipeError(msg)
    return path


def plan(recipe: Recipe) -> list[Task]:
    """The tasks of a recipe, in execution order (no data is read).

    Per-plate steps run plate by plate; a batch-level step waits for its input
    step to be done for every plate of the batch.
    """
    made: dict[str, dict[str, list[Location]]] = {}
    tasks: list[Task] = []
    for step in recipe.steps:
        groups: list[tuple[str | None, list[PlateInput]]]
        if step.level == "plate":
            groups = [(p.batch, [p]) for p in recipe.plates]
        elif step.level == "batch":
            batches = dict.fromkeys(p.batch for p in recipe.plates)
            groups = [(b, [p for p in recipe.plates if p.batch == b]) for b in batches]
        else:
            groups = [(None, list(recipe.plates))]
        produced: dict[str, list[Location]] = {}
        for batch, plates in groups:
            outputs = _step_outputs(recipe, step, batch, plates)
            inputs = _input_files(recipe, step, plates, made)
            statistics: tuple[Location, ...] = ()
            if step.statistics is not None:
                statistics = tuple(
                    _resolve(recipe, step.statistics, batch=p.batch, plate=p.plate) for p in plates
                )
            tasks.append(
                Task(step, batch, tuple(plates), tuple(inputs), tuple(outputs), statistics)
            )
            for out in outputs:
                if out.kind == "plate":
                    produced.setdefault(f"{out.batch}/{out.plates[0]}", []).append(out.path)
                elif out.kind == "stacked":
                    produced.setdefault(f"stacked:{out.batch or 'all'}", []).append(out.path)
        made[step.name] = produced
    seen: dict[Location, str] = {}
    for task in tasks:
        for out in task.outputs:
            if out.path in seen:
                msg = (
                    f"{recipe.path}:{task.step.line}: {task.label} and {seen[out.path]} "
                    f"both write {out.path}; give the steps different outputs"
                )
                raise RecipeError(msg)
            seen[out.path] = task.label
    return tasks


# ----------------------------------------------------------------------------- fingerprints


def _display(recipe: Recipe, path: Location) -> str:
    """A path relative to the output folder or the workspace when inside them.

    An object in a remote output folder shows its key below the folder, as the
    same file of a local run does.
    """
    if isinstance(path, str) and "://" in path:
        root = recipe.output_dir
        if isinstance(root, str) and path.startswith(root + "/"):
            return path[len(root) + 1 :]
        return path
    resolved = Path(path).resolve()
    for base in (recipe.output_dir, recipe.workspace):
        if isinstance(base, Path) and resolved.is_relative_to(base):
            return str(resolved.relative_to(base))
    return str(resolved)


def _side_inputs(task: Task) -> list[tuple[str, Location]]:
    sides: list[tuple[str, Location]] = [("statistics", p) for p in task.statistics]
    if task.step.op == "annotate":
        for plate in task.plates:
            if plate.platemap:
                sides.append(("platemap", plate.platemap))
            if plate.external_metadata:
                sides.append(("external_metadata", plate.external_metadata))
    return list(dict.fromkeys(sides))


def _inputs_info(recipe: Recipe, task: Task, store: OutputStore) -> list[dict[str, Any]]:
    earlier_level = task.step.input is not None or task.step.input_file is not None
    role = "profiles" if earlier_level else "single_cells"
    entries: list[tuple[str, Location]] = [(role, p) for p in task.inputs]
    entries += _side_inputs(task)
    infos = []
    for kind, path in entries:
        if kind in ("profiles", "statistics") and store.owns(path):
            info = store.checksum(path)  # a previous level, or saved statistics
        else:
            info = checksum(str(path), storage_options=recipe.storage_options or None)
        infos.append({"role": kind, "path": _display(recipe, path), **info})
    return infos


def _fingerprint(recipe: Recipe, task: Task, inputs: list[dict[str, Any]]) -> str:
    step = task.step
    payload = {
        "dialect": recipe.dialect,
        "section": step.section,
        "op": step.op,
        "level": step.level,
        "params": step.params,
        "features": step.features,
        "compartments": list(step.compartments),
        "image_features": step.image_features,
        **_image_parameters(step),
        "float_format": recipe.float_format,
        "compression": recipe.compression,
        "outputs": [_display(recipe, o.path) for o in task.outputs],
        "inputs": [(i["role"], i["path"], i["size"], i["checksum"]) for i in inputs],
        "cytoplan": package_versions()["cytoplan"],
    }
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _image_parameters(step: Step) -> dict[str, Any]:
    """An aggregate step's image-table options (none: nothing, so fingerprints stay)."""
    if not step.site_count:
        return {}
    return {
        "site_count": True,
        "image_feature_categories": (
            None if step.image_feature_categories is None else list(step.image_feature_categories)
        ),
        "image_columns": list(step.image_columns),
    }


def _up_to_date(task: Task, fingerprint: str, store: OutputStore) -> bool:
    return all(store.up_to_date(out.path, fingerprint) for out in task.outputs)


# ----------------------------------------------------------------------------- execution


def _features(step: Step, frame: pl.LazyFrame) -> Any:
    if step.features == "infer":
        from cytoplan.schema import infer_cp_features

        schema = frame.collect_schema()
        _require_compartments(step, schema)
        return infer_cp_features(
            schema, list(step.compartments), image_features=step.image_features
        )
    if step.features is None and step.image_features:
        from cytoplan.schema import features, image_features

        return features(step.compartments) | image_features()
    return step.features


def _require_compartments(step: Step, schema: pl.Schema) -> None:
    """Every compartment the recipe names has features in the step's input: a typo
    (``nucleii``) would otherwise drop a whole compartment without a word."""
    prefixes = {name.split("_", 1)[0].lower() for name in schema.names() if "_" in name}
    absent = [c for c in step.compartments if c.lower() not in prefixes]
    if absent:
        present = sorted(p.title() for p in prefixes if p.title() not in ("Metadata",))
        msg = (
            f"compartment(s) {absent} of the recipe have no feature columns in the input "
            f"(it has {', '.join(present)}); check the recipe's compartments"
        )
        raise SchemaError(msg)


def _scan_inputs(
    recipe: Recipe, task: Task, staging: Path, store: OutputStore | None = None
) -> pl.LazyFrame:
    from cytoplan.api import scan

    options = recipe.storage_options or None
    frames: list[pl.LazyFrame] = []
    per_plate = len(task.inputs) == len(task.plates)
    for index, source in enumerate(task.inputs):
        if store is not None and (task.step.input or task.step.input_file) and store.owns(source):
            source = store.readable(source)  # a previous level: the staged or fetched copy
        text = str(source)
        needs_staging = task.step.op == "aggregate" and (
            text.lower().endswith(_SQLITE_SUFFIXES) or ("://" not in text and Path(text).is_dir())
        )
        if needs_staging:
            # row stores are staged to Parquet once (DESIGN.md, contract 2)
            from cytoplan.io.convert import convert

            staged = staging / f"{len(frames)}.parquet"
            convert(text, staged, progress=False, storage_options=options)
            frames.append(scan(staged))
        else:
            frame = scan(text, storage_options=options)
            if text.lower().endswith((".csv", ".csv.gz", ".tsv", ".tsv.gz", ".txt")):
                frame = _empty_text_columns_as_float(frame)
            if task.step.batch_column and per_plate:
                batch = pl.lit(task.plates[index].batch, dtype=pl.String)
                frame = _with_batch_column(frame, batch.alias(task.step.batch_column))
            frames.append(frame)
    if len(frames) == 1:
        return frames[0]
    return pl.concat(frames, how="diagonal_relaxed")


def _with_batch_column(frame: pl.LazyFrame, batch: pl.Expr) -> pl.LazyFrame:
    """``frame`` with the batch column after its last ``Metadata_`` column.

    That is where profiling-recipe's stacking (``concat_dataframes``: metadata
    columns, then features) puts the ``Metadata_batch`` it assigns to each plate.
    """
    names = frame.collect_schema().names()
    end = max((i + 1 for i, name in enumerate(names) if name.startswith("Metadata_")), default=0)
    return frame.select(*names[:end], batch, *names[end:])


def _empty_text_columns_as_float(frame: pl.LazyFrame) -> pl.LazyFrame:
    """Non-metadata text columns that are entirely empty → Float64 (as pandas reads them).

    A CSV feature column holding only missing values (a feature with zero
    spread after normalisation) has no type of its own; pycytominer reads it as
    float NaN, and so does the runner (one small query over a well-level table).
    """
    schema = frame.collect_schema()
    candidates = [n for n, t in schema.items() if t == pl.String and not n.startswith("Metadata_")]
    if not candidates:
        return frame
    counts = frame.select(
        pl.len().alias("__rows__"), *[pl.col(c).null_count() for c in candidates]
    ).collect()
    rows = counts["__rows__"][0]
    empty = [c for c in candidates if counts[c][0] == rows]
    return frame.with_columns(pl.col(empty).cast(pl.Float64)) if empty else frame


def _compute(
    task: Task,
    frame: pl.LazyFrame,
    store: OutputStore | None = None,
    storage_options: dict[str, Any] | None = None,
) -> pl.LazyFrame:
    import cytoplan.api as api

    store = store or LocalStore()
    step = task.step
    params = dict(step.params)
    feats = _features(step, frame)
    if feats is not None:
        params["features"] = feats
    if step.op == "aggregate":
        profiles = api.aggregate(frame, **params)
        if step.site_count:
            profiles = _with_image_columns(task, profiles, params, storage_options)
        return profiles
    if step.op == "annotate":
        plate = task.plates[0]
        if plate.platemap is None:
            msg = f"plate {plate.key} has no platemap; annotate needs one"
            raise RecipeError(msg)
        return api.annotate(
            frame, plate.platemap, external_metadata=plate.external_metadata, **params
        )
    if step.op == "normalize":
        if not task.statistics and step.save_statistics is None:
            return api.normalize(frame, **params)
        return _normalize_with_saved_statistics(task, frame, params, store)
    if step.op == "feature_select":
        return api.feature_select(frame, **params)
    return api.consensus(frame, **params)


def _with_image_columns(
    task: Task,
    profiles: pl.LazyFrame,
    params: dict[str, Any],
    storage_options: dict[str, Any] | None,
) -> pl.LazyFrame:
    """What ``SingleCells.aggregate_profiles`` adds from the image table, in its layout.

    ``Metadata_Site_Count`` (and image features) from the plate's image table
    (:func:`cytoplan.ops.image_features.add_image_features`); then, as
    aggregate_profiles joins one compartment after another, the features grouped
    by compartment in the recipe's ``compartments`` order.
    """
    from cytoplan.ops.image_features import add_image_features
    from cytoplan.recipe._image import image_table_of

    step = task.step
    strata = params.get("strata", ("Metadata_Plate", "Metadata_Well"))
    image = image_table_of(str(task.inputs[0]), storage_options)
    try:
        added = add_image_features(
            profiles,
            image,
            strata=strata,
            image_feature_categories=step.image_feature_categories,
            method=params.get("method", "median"),
            image_cols=step.image_columns,
            fields_of_view=params.get("fields_of_view", "all"),
            fields_of_view_feature=params.get("fields_of_view_feature", "Metadata_Site"),
            memory_limit=params.get("memory_limit"),
        )
    except CytoplanError as err:
        msg = f"step {step.name}, image table of {task.inputs[0]}: {err}"
        raise type(err)(msg) from err
    names = added.collect_schema().names()
    compartments = [c for c in step.compartments if c != "Image"]
    grouped = [c for c in names if c.split("_", 1)[0] in compartments]
    ordered = [c for c in names if c not in grouped]
    for compartment in compartments:
        ordered += [c for c in grouped if c.split("_", 1)[0] == compartment]
    return added.select(ordered)


def _normalize_with_saved_statistics(
    task: Task, frame: pl.LazyFrame, params: dict[str, Any], store: OutputStore
) -> pl.LazyFrame:
    """Apply saved statistics (``statistics:``) or fit and save them (``save_statistics:``)."""
    from cytoplan.ops.normalize import Normalizer, make_normalizer

    if task.statistics:
        saved = task.statistics[0]
        if store.owns(saved):
            saved = store.readable(saved)
        return Normalizer.load(saved).transform(frame)
    options = {k: v for k, v in params.items() if k not in ("reference", "by", "method")}
    normalizer = make_normalizer(params.get("method", "standardize"), **options)
    normalizer.fit(frame, reference=params.get("reference"), by=params.get("by"))
    for out in task.outputs:
        if out.kind == "statistics":
            target = store.local(out.path)
            target.parent.mkdir(parents=True, exist_ok=True)
            normalizer.save(target)
    return normalizer.transform(frame)


def _subset(frame: pl.LazyFrame, out: OutputFile, task: Task) -> pl.LazyFrame:
    column = task.step.batch_column or ""
    has_batch = bool(column) and column in frame.collect_schema()
    batches = {plate.batch for plate in task.plates}
    if has_batch and out.batch is not None and len(batches) > 1:
        # two batches may hold plates of the same name: a batch's file is its own rows
        frame = frame.filter(pl.col(column) == out.batch)
    if out.kind == "plate" and has_batch:
        frame = frame.drop(column)
    if len(out.plates) == len(task.plates):
        return frame
    if PLATE_COLUMN not in frame.collect_schema():
        msg = f"step {task.step.name}: cannot split its result by plate: no {PLATE_COLUMN} column"
        raise RecipeError(msg)
    return frame.filter(pl.col(PLATE_COLUMN).is_in(list(out.plates)))


def _write(
    recipe: Recipe, frame: pl.LazyFrame, out: OutputFile, store: OutputStore
) -> tuple[int, int]:
    """Write one output to its local file (the staging copy for a remote folder)."""
    from cytoplan.io.sinks import infer_sink_format, write_profiles

    path = store.local(out.path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if out.kind == "gct":
        from cytoplan.io.gct import write_gct

        table = frame.collect()
        write_gct(table, path)
        return table.height, table.width
    if out.kind == "statistics":  # saved while computing
        saved = pl.scan_parquet(path)
        return int(saved.select(pl.len()).collect().item()), len(saved.collect_schema())
    fmt, _ = infer_sink_format(path)
    options: dict[str, Any] = {}
    if fmt == "parquet":
        # profiling-recipe's gzip is its CSV files'; the cytoplan dialect's names a codec
        if recipe.compression and (recipe.dialect == "cytoplan" or recipe.compression != "gzip"):
            options["compression"] = recipe.compression
    else:
        options["float_format"] = recipe.float_format
    write_profiles(frame, path, **options)
    from cytoplan.api import scan

    written = scan(path)
    rows = int(written.select(pl.len()).collect().item())
    return rows, len(written.collect_schema())


def _run_task(
    recipe: Recipe,
    task: Task,
    fingerprint: str,
    inputs: list[dict[str, Any]],
    store: OutputStore,
) -> None:
    started = datetime.now(UTC)
    clock = time.perf_counter()
    store.invalidate(out.path for out in task.outputs)  # files are replaced one by one
    base = _settings_temp()
    with tempfile.TemporaryDirectory(dir=base, prefix="cytoplan-staging-") as staging:
        frame = _compute(
            task,
            _scan_inputs(recipe, task, Path(staging), store),
            store,
            recipe.storage_options or None,
        )
        if task.step.level != "plate" or len(task.outputs) > 1:
            frame = frame.collect().lazy()  # fitted once, split into several files
        shapes = {}
        for out in task.outputs:
            shapes[out.path] = _write(recipe, _subset(frame, out, task), out, store)
    seconds = time.perf_counter() - clock
    versions = package_versions()
    step = task.step

    def _statistics_checksum(path: Location) -> dict[str, Any]:
        if store.owns(path):
            return store.checksum(path)
        return checksum(str(path), storage_options=recipe.storage_options or None)

    for out in task.outputs:
        rows, columns = shapes[out.path]
        info = checksum(store.local(out.path))
        manifest = {
            "cytoplan_manifest": 1,
            "output": {
                "path": _display(recipe, out.path),
                "kind": out.kind,
                "level": step.data_level,
                "step": step.name,
                "op": step.op,
                "scope": step.level,
                "batch": out.batch,
                "plates": list(out.plates),
                "rows": rows,
                "columns": columns,
                **info,
            },
            "recipe": {
                "path": str(recipe.path),
                "sha256": recipe.sha256,
                "dialect": recipe.dialect,
                "name": recipe.name,
                "line": step.line,
                "section": step.section,
            },
            "parameters": {
                **{k: v for k, v in step.params.items()},
                "features": step.features,
                "compartments": list(step.compartments),
                "image_features": step.image_features,
                **_image_parameters(step),
                "float_format": recipe.float_format,
                "compression": recipe.compression,
            },
            "inputs": inputs,
            "statistics": [
                *[
                    {"role": "used", "path": _display(recipe, p), **_statistics_checksum(p)}
                    for p in task.statistics
                ],
                *[
                    {
                        "role": "saved",
                        "path": _display(recipe, o.path),
                        **checksum(store.local(o.path)),
                    }
                    for o in task.outputs
                    if o.kind == "statistics"
                ],
            ],
            "versions": versions,
            "warnings": list(recipe.warnings),
            "fingerprint": fingerprint,
            "timings": {
                "started": started.isoformat(timespec="seconds"),
                "seconds": round(seconds, 3),
            },
        }
        store.publish(out.path, manifest)


def _settings_temp() -> Path:
    from cytoplan.config import settings

    folder = settings().temp_dir
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _remove_stale_temporaries(tasks: list[Task], store: OutputStore) -> None:
    """Delete temporary files left beside outputs by a killed run (``.<name>.<id>.tmp``).

    Writers use a temporary name (key) and rename (copy) it when complete; a run
    killed with SIGKILL cannot remove its temporary file, so the next run does.
    """
    store.remove_stale(out.path for task in tasks for out in task.outputs)


def run_recipe(
    recipe: Recipe | str | Path,
    *,
    force: bool = False,
    log: Callable[[str], None] | None = None,
    workspace: str | Path | None = None,
    output_dir: str | Path | None = None,
) -> RunReport:
    """Run every step of a recipe, skipping outputs that are up to date.

    Parameters
    ----------
    recipe : Recipe, str or Path
        A loaded recipe or a recipe file.
    force : bool
        Re-run every step even when its outputs are up to date.
    log : callable, optional
        Receives one line per task (``print`` for a console).
    workspace, output_dir : str or Path, optional
        Passed to :func:`~cytoplan.recipe.load.load_recipe` for a file.

    Returns
    -------
    RunReport
    """
    if not isinstance(recipe, Recipe):
        recipe = load_recipe(recipe, workspace=workspace, output_dir=output_dir)
    elif workspace is not None or output_dir is not None:
        msg = (
            "workspace and output_dir apply when a recipe is loaded: pass them to "
            "load_recipe(), or give run_recipe() the recipe's path"
        )
        raise ParameterError(msg)
    say = log or (lambda _line: None)
    for warning in recipe.warnings:
        say(f"warning: {warning}")
    report = RunReport(recipe)
    tasks = plan(recipe)
    with (
        exclusive_run(recipe.output_dir),
        open_store(recipe.output_dir, recipe.output_options, _settings_temp()) as store,
    ):
        _remove_stale_temporaries(tasks, store)
        store.prefetch(out.path for task in tasks for out in task.outputs)
        for number, task in enumerate(tasks, 1):
            clock = time.perf_counter()
            inputs = _inputs_info(recipe, task, store)
            fingerprint = _fingerprint(recipe, task, inputs)
            prefix = f"[{number}/{len(tasks)}] level {task.step.data_level:<2} {task.label}"
            if not force and _up_to_date(task, fingerprint, store):
                report.results.append(TaskResult(task, "skipped", 0.0))
                say(f"{prefix}: up to date, skipped")
                continue
            try:
                _run_task(recipe, task, fingerprint, inputs, store)
            except CytoplanError as error:
                msg = f"{task.label} (recipe line {task.step.line}): {error}"
                raise type(error)(msg) from error
            except (pl.exceptions.PolarsError, OSError, ValueError) as error:
                # an engine or file-system failure: reported with the step, never half-written
                msg = f"{task.label} (recipe line {task.step.line}) failed: {error}"
                raise CytoplanError(msg) from error
            seconds = time.perf_counter() - clock
            report.results.append(TaskResult(task, "ran", seconds))
            written = ", ".join(_display(recipe, o.path) for o in task.outputs)
            say(f"{prefix}: wrote {written} ({seconds:.1f} s)")
    return report


# ----------------------------------------------------------------------------- explain


def explain_recipe(recipe: Recipe | str | Path, *, plans: bool = True, **load_options: Any) -> str:
    """The plan of every task (inputs, outputs, status), without running anything.

    With ``plans=True``, tasks whose input files already exist show the Polars
    plan of their input scan (``LazyFrame.explain()``); a step's own plan
    depends on statistics fitted when it runs.
    """
    if not isinstance(recipe, Recipe):
        recipe = load_recipe(recipe, **load_options)
    lines = [
        f"recipe    {recipe.path} ({recipe.dialect}, sha256 {recipe.sha256[:12]})",
        f"workspace {recipe.workspace}",
        f"output    {recipe.output_dir}",
        f"plates    {len(recipe.plates)}: " + ", ".join(p.key for p in recipe.plates),
    ]
    lines += [f"warning   {w}" for w in recipe.warnings]
    with open_store(recipe.output_dir, recipe.output_options, _settings_temp()) as store:
        _explain_tasks(recipe, store, lines, plans=plans)
    return "\n".join(lines)


def _output_states(
    recipe: Recipe, task: Task, store: OutputStore, rewritten: set[str]
) -> dict[Location, str]:
    """What a run would do with each output of ``task``, as ``run_recipe`` decides it.

    ``up to date`` (skipped), ``stale`` (exists, but the recipe, an input or the file
    changed: rewritten), ``to write`` (missing); with inputs not written yet, or
    ``rewritten`` by an earlier step of this run, an existing output is checked again
    once they are.
    """
    written = [store.exists(out.path) for out in task.outputs]
    earlier = task.step.input is not None or task.step.input_file is not None
    ready = all(
        store.exists(p) if earlier and store.owns(p) else "://" in str(p) or Path(p).exists()
        for p in task.inputs
    )
    if not ready or any(str(p) in rewritten for p in task.inputs):
        return {
            out.path: "exists, checked again after its inputs" if exists else "to write"
            for out, exists in zip(task.outputs, written, strict=True)
        }
    fingerprint = _fingerprint(recipe, task, _inputs_info(recipe, task, store))
    fresh = _up_to_date(task, fingerprint, store)  # a run rewrites all or none of them
    return {
        out.path: ("up to date" if fresh else "stale, rewritten") if exists else "to write"
        for out, exists in zip(task.outputs, written, strict=True)
    }


def _explain_tasks(recipe: Recipe, store: OutputStore, lines: list[str], *, plans: bool) -> None:
    from cytoplan.api import scan

    rewritten: set[str] = set()  # outputs this run would write: later steps wait for them
    for number, task in enumerate(plan(recipe), 1):
        step = task.step
        params = ", ".join(f"{k}={v!r}" for k, v in step.params.items())
        lines.append("")
        lines.append(
            f"{number}. {task.label}  [{step.op}, level {step.data_level}, line {step.line}]"
        )
        lines.append(f"   {step.op}({params})")
        if step.site_count:
            categories = list(step.image_feature_categories or ())
            extra = f" and image features {categories}" if categories else ""
            lines.append(f"   + Metadata_Site_Count{extra} from the image table")
        for source in task.inputs:
            state = "" if "://" in str(source) or Path(source).exists() else "  (not yet written)"
            lines.append(f"   in   {_display(recipe, source)}{state}")
        for role, side in _side_inputs(task):
            lines.append(f"   in   {_display(recipe, side)} ({role})")
        states = _output_states(recipe, task, store, rewritten)
        if any(state != "up to date" for state in states.values()):
            rewritten.update(str(out.path) for out in task.outputs)
        for out in task.outputs:
            lines.append(f"   out  {_display(recipe, out.path)}  ({out.kind}, {states[out.path]})")
        first = str(task.inputs[0])
        cheap = (
            "://" not in first
            and Path(first).is_file()
            and not first.lower().endswith(_SQLITE_SUFFIXES)
        )
        if plans and cheap:
            frame = scan(first)
            title = "input plan"
            if step.op == "annotate" and len(task.inputs) == 1:
                # joins with small side tables: the step's own plan is cheap to build
                frame, title = _compute(task, frame), "plan"
            lines.append(f"   {title}:")
            lines.extend("     " + row for row in frame.explain().splitlines())

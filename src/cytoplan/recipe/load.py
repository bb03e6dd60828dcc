"""Read a recipe file into a :class:`~cytoplan.recipe.model.Recipe`, with file:line errors.

Two dialects are read:

* **profiling-recipe** (cytomining/profiling-recipe): a multi-document YAML file
  whose first document is the pipeline (``aggregate``, ``annotate``,
  ``normalize``, ``normalize_negcon``, ``feature_select``,
  ``feature_select_negcon``, ``quality_control``, ``options``) and whose other
  documents list plates per batch. Paths follow its folder conventions, from
  the workspace folder (default: the current folder, as profiling-recipe runs).
* **cytoplan** (``version: 1``): one document with ``inputs``, ``output`` and
  ordered ``steps``; see ``docs/recipes.md``.

Unknown keys, wrong types and missing files raise :class:`RecipeError` naming
``file:line`` and the fix.

Examples
--------
>>> import pathlib, tempfile
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> _ = (folder / "P1.parquet").write_bytes(b"")
>>> _ = (folder / "r.yml").write_text('''
... version: 1
... inputs:
...   single_cells: "*.parquet"
... steps:
...   aggregated: {op: aggregate}
...   normalized: {op: normalize, method: mad_robustize}
... ''')
>>> recipe = load_recipe(folder / "r.yml")
>>> for step in recipe.steps:
...     print(step.name, step.input, step.output)
aggregated None {batch}/{plate}/{plate}_aggregated.parquet
normalized aggregated {batch}/{plate}/{plate}_normalized.parquet
>>> _ = (folder / "bad.yml").write_text("version: 1\\ninputs:\\n  single_cells: x\\nstep: {}\\n")
>>> load_recipe(folder / "bad.yml")
Traceback (most recent call last):
...
cytoplan.exceptions.RecipeError: ...bad.yml:4: unknown key 'step' ... (did you mean 'steps'?)
"""

from __future__ import annotations

import difflib
import glob
import hashlib
import inspect
from pathlib import Path
from typing import Any

from cytoplan.exceptions import RecipeError
from cytoplan.recipe._yaml import LineDict, LineList, load_documents
from cytoplan.recipe.model import OPS, PlateInput, Recipe, Step

__all__ = ["AGGREGATE_KEYS", "load_recipe", "op_parameters"]

# ----------------------------------------------------------------------------- validation


class _Where:
    """Formats ``file:line`` prefixes and raises RecipeError."""

    def __init__(self, source: Path) -> None:
        self.source = str(source)

    def fail(self, line: int, message: str) -> RecipeError:
        return RecipeError(f"{self.source}:{line}: {message}")


_TYPE_NAMES = {
    "bool": "true or false",
    "str": "a text",
    "int": "a whole number",
    "number": "a number",
    "list[str]": "a list of texts",
    "str|list[str]": "a text or a list of texts",
    "name": "a name (text or number)",
    "fields": '"all" or a list of site numbers',
    "mapping": "a mapping of keys to values",
    "any": "anything",
}


def _is_type(value: Any, kind: Any) -> bool:
    if isinstance(kind, tuple):
        return value in kind
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "str":
        return isinstance(value, str)
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "list[str]":
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    if kind == "str|list[str]":
        return isinstance(value, str) or _is_type(value, "list[str]")
    if kind == "name":  # numeric barcodes: profiling-recipe reads them with str()
        return isinstance(value, str) or _is_type(value, "int")
    if kind == "fields":
        return value == "all" or (
            isinstance(value, list) and all(isinstance(v, int | str) for v in value)
        )
    if kind == "mapping":
        return isinstance(value, dict)
    return True


def _describe(kind: Any) -> str:
    if isinstance(kind, tuple):
        return "one of " + ", ".join(repr(k) for k in kind)
    return _TYPE_NAMES.get(kind, str(kind))


def _check_section(
    where: _Where, section: Any, spec: dict[str, Any], name: str, *, line: int
) -> LineDict:
    """Check keys and value types of a mapping against ``spec`` (nested dicts recurse)."""
    if not isinstance(section, LineDict):
        msg = f"{name} must be a mapping of keys to values, not {type(section).__name__}"
        raise where.fail(line, msg)
    for key, value in section.items():
        at = section.line_of(key)
        if key not in spec:
            close = difflib.get_close_matches(key, list(spec), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            msg = f"unknown key {key!r} in {name}; known keys: {', '.join(sorted(spec))}{hint}"
            raise where.fail(at, msg)
        kind = spec[key]
        full = key if name.startswith(("the ", "a ")) else f"{name}.{key}"
        if isinstance(kind, dict):
            _check_section(where, value, kind, full, line=at)
        elif not _is_type(value, kind):
            msg = f"{full} must be {_describe(kind)}, not {value!r}"
            raise where.fail(at, msg)
    return section


def _require_file(where: _Where, path: Path, line: int, what: str) -> None:
    if "://" in str(path):
        return
    if not path.exists():
        msg = f"{what} {str(path)!r} does not exist; check the recipe's path and the workspace"
        raise where.fail(line, msg)


# ----------------------------------------------------------------------------- profiling-recipe

_NORMALIZE_SPEC: dict[str, Any] = {
    "perform": "bool",
    "method": ("standardize", "robustize", "mad_robustize", "spherize", "inverse_normal"),
    "features": "str|list[str]",
    "mad_robustize_fudge_factor": "number",
    "image_features": "bool",
    "subgroups": "bool",
    "subgroup_col": "str",
    "min_cells": "int",
}
_FEATURE_SELECT_SPEC: dict[str, Any] = {
    "perform": "bool",
    "features": "str|list[str]",
    "level": ("plate", "batch", "all"),
    "gct": "bool",
    "image_features": "bool",
    "operations": "list[str]",
    "subgroups": "bool",
    "subgroup_col": "str",
    "min_cells": "int",
}
PIPELINE_SPEC: dict[str, Any] = {
    "pipeline": "str",
    "output_dir": "str",
    "platemap_well_column": "str",
    "compartments": "list[str]",
    "aggregate": {
        "perform": "bool",
        "plate_column": "str",
        "well_column": "str",
        "method": ("median", "mean"),
        "fields": "fields",
        "image_feature_categories": "list[str]",
        "site_column": "str",
        "object_feature": "str",
    },
    "annotate": {
        "perform": "bool",
        "well_column": "str",
        "external": {"perform": "bool", "file": "str", "merge_column": "str"},
    },
    "normalize": _NORMALIZE_SPEC,
    "normalize_negcon": _NORMALIZE_SPEC,
    "feature_select": _FEATURE_SELECT_SPEC,
    "feature_select_negcon": _FEATURE_SELECT_SPEC,
    "quality_control": "any",
    # pycytominer's output() accepts gzip or none (null) and raises for anything else
    "options": {"compression": ("gzip", None), "float_format": "str", "samples": "str"},
}
BATCH_SPEC: dict[str, Any] = {"batch": "name", "plates": "any", "process": "bool"}
PLATE_SPEC: dict[str, Any] = {"name": "name", "process": "bool"}
NEGCON = "Metadata_control_type == 'negcon'"


def _as_plain(value: Any) -> Any:
    """LineDict/LineList → dict/list (JSON-able section text)."""
    if isinstance(value, dict):
        return {str(k): _as_plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_plain(v) for v in value]
    return value


def _options_used(options: LineDict, *, samples: bool) -> dict[str, Any]:
    """The ``options`` a section's output depends on (its re-run fingerprint): the
    output format always, ``samples`` only where it picks the reference rows."""
    used = dict(_as_plain(options))
    if not samples:
        used.pop("samples", None)
    return used


def _samples(base: str, min_cells: int) -> str | None:
    parts = [] if base == "all" else [base]
    if min_cells > 1:
        parts.append(f"Metadata_Object_Count >= {min_cells}")
    return " and ".join(f"({p})" if len(parts) > 1 else p for p in parts) or None


def _backend_path(workspace: Path, batch: str, plate: str) -> Path:
    """``backend/<batch>/<plate>/<plate>.sqlite`` in the workspace, else ``../../backend``."""
    here = workspace / "backend" / batch / plate / f"{plate}.sqlite"
    weld = workspace / ".." / ".." / "backend" / batch / plate / f"{plate}.sqlite"
    if here.exists() or not weld.exists():
        return here
    return weld.resolve()


#: the fields-of-view column SingleCells counts (its ``fields_of_view_feature`` default)
SITE_COLUMN = "Metadata_Site"


def _image_table_has(source: str, column: str) -> bool:
    """Whether a local SQLite file's image table has ``column`` (remote: assumed)."""
    if "://" in source:
        return True
    from cytoplan.exceptions import CytoplanError
    from cytoplan.io._sqlite_catalog import read_catalogue
    from cytoplan.io.cellprofiler import _find_table

    try:
        table = _find_table("Image", read_catalogue(source), None, source)
    except CytoplanError:
        return False
    return column in table.columns


def _read_barcodes(where: _Where, path: Path, line: int) -> dict[str, str]:
    from cytoplan.io.profiles import read_text_table

    _require_file(where, path, line, "barcode platemap")
    table = read_text_table(path).collect()
    missing = {"Assay_Plate_Barcode", "Plate_Map_Name"} - set(table.columns)
    if missing:
        msg = f"barcode platemap {str(path)!r} lacks column(s) {', '.join(sorted(missing))}"
        raise where.fail(line, msg)
    return dict(zip(table["Assay_Plate_Barcode"], table["Plate_Map_Name"], strict=True))


def _profiling_recipe(
    where: _Where,
    docs: list[Any],
    path: Path,
    workspace: Path | None,
    output_dir: Path | str | None,
) -> dict[str, Any]:
    pipeline = _check_section(where, docs[0], PIPELINE_SPEC, "the pipeline document", line=1)
    ws = (workspace or Path.cwd()).resolve()
    warnings: list[str] = []
    if "quality_control" in pipeline:
        warnings.append(
            f"{where.source}:{pipeline.line_of('quality_control')}: quality_control is not yet "
            "supported by cytoplan; the section was accepted and skipped"
        )
    options = pipeline.get("options", LineDict())
    samples = options.get("samples", "all")
    float_format = options.get("float_format")
    compression = options.get("compression", "gzip")
    compartments = tuple(
        c.title() for c in pipeline.get("compartments", ["cells", "cytoplasm", "nuclei"])
    )
    well_column = pipeline.get("platemap_well_column", "Metadata_well_position")
    ext = ".csv.gz" if compression == "gzip" else ".csv"
    per_plate = "{batch}/{plate}/{plate}"

    # plates
    plates: list[PlateInput] = []
    for doc in docs[1:]:
        batch_doc = _check_section(
            where, doc, BATCH_SPEC, "a batch document", line=getattr(doc, "line", 1)
        )
        if "batch" not in batch_doc:
            raise where.fail(batch_doc.line, "a batch document needs 'batch: <batch name>'")
        batch = str(batch_doc["batch"])
        if not batch_doc.get("process", True):
            continue
        plate_list = batch_doc.get("plates")
        if not isinstance(plate_list, LineList):
            msg = "plates must be a list of {name: <plate>, process: true}"
            raise where.fail(batch_doc.line_of("plates"), msg)
        barcode_file = ws / "metadata" / "platemaps" / batch / "barcode_platemap.csv"
        barcodes = _read_barcodes(where, barcode_file, batch_doc.line_of("batch"))
        external = None
        annotate = pipeline.get("annotate", LineDict())
        ext_section = annotate.get("external", LineDict())
        if annotate.get("perform", True) and ext_section.get("perform", False):
            if "file" not in ext_section:
                raise where.fail(ext_section.line, "annotate.external needs 'file: <name>.tsv'")
            ext_path = ws / "metadata" / "external_metadata" / ext_section["file"]
            _require_file(where, ext_path, ext_section.line_of("file"), "external metadata")
            external = str(ext_path)
        for index, item in enumerate(plate_list):
            at = plate_list.line_of(index)
            entry = _check_section(where, item, PLATE_SPEC, "a plate entry", line=at)
            if "name" not in entry:
                raise where.fail(at, "a plate entry needs 'name: <plate barcode>'")
            if not entry.get("process", True):
                continue
            plate = str(entry["name"])
            source = _backend_path(ws, batch, plate)
            _require_file(where, source, at, f"plate {plate}: single-cell SQLite")
            if plate not in barcodes:
                msg = f"plate {plate} is not listed in {str(barcode_file)!r} (Assay_Plate_Barcode)"
                raise where.fail(at, msg)
            name = barcodes[plate]
            platemap = ws / "metadata" / "platemaps" / batch / "platemap" / f"{name}.txt"
            _require_file(where, platemap, at, f"plate {plate}: platemap")
            plates.append(
                PlateInput(batch, plate, str(source), str(platemap), external, platemap_name=name)
            )
    if not plates:
        raise where.fail(
            len(docs) and getattr(docs[-1], "line", 1),
            "no plate to process; add a batch document with plates",
        )

    steps: list[Step] = []

    def section(key: str) -> LineDict | None:
        value = pipeline.get(key)
        if value is None or not value.get("perform", True):
            return None
        for flag in ("subgroups",):
            if value.get(flag):
                warnings.append(
                    f"{where.source}:{value.line_of(flag)}: {key}.subgroups is not yet supported "
                    "by cytoplan; the subgroup outputs are not written"
                )
        return value  # type: ignore[no-any-return]

    if (agg := section("aggregate")) is not None:
        strata = [
            agg.get("plate_column", "Metadata_Plate"),
            agg.get("well_column", "Metadata_Well"),
        ]
        if "site_column" in agg:
            strata.append(agg["site_column"])
        # profiling-recipe aggregates with SingleCells(...).aggregate_profiles(), which
        # always counts sites; image_feature_categories present → add_image_features=True
        categories = agg.get("image_feature_categories")
        no_sites = [p.plate for p in plates if not _image_table_has(p.source, SITE_COLUMN)]
        if no_sites and categories is None:
            warnings.append(
                f"{where.source}:{pipeline.line_of('aggregate')}: the image table of plate(s) "
                f"{', '.join(no_sites)} has no {SITE_COLUMN} column: Metadata_Site_Count is "
                "not added (pycytominer's SingleCells would fail)"
            )
        fields = agg.get("fields", "all")
        steps.append(
            Step(
                name="aggregate",
                op="aggregate",
                level="plate",
                input=None,
                output=per_plate + ext,
                params={
                    "strata": strata,
                    "method": agg.get("method", "median"),
                    "object_count": True,
                    "object_feature": agg.get("object_feature", "Metadata_ObjectNumber"),
                    "fields_of_view": fields,
                },
                features="infer",
                compartments=compartments,
                image_feature_categories=tuple(categories) if categories else None,
                site_count=not no_sites or categories is not None,
                section={"aggregate": _as_plain(agg), "compartments": list(compartments)},
                line=pipeline.line_of("aggregate"),
            )
        )
    if (ann := section("annotate")) is not None:
        ext_section = ann.get("external", LineDict())
        params: dict[str, Any] = {
            "join_on": [well_column, ann.get("well_column", "Metadata_Well")],
            "clean_cellprofiler": True,
        }
        if ext_section.get("perform", False):
            merge = ext_section.get("merge_column", "Metadata_broad_sample")
            params["external_join_on"] = [
                merge if merge.startswith("Metadata") else f"Metadata_{merge}"
            ]
        steps.append(
            Step(
                name="annotate",
                op="annotate",
                level="plate",
                input="aggregate" if steps else None,
                input_file=None if steps else per_plate + ext,
                output=per_plate + "_augmented" + ext,
                params=params,
                section={"annotate": _as_plain(ann), "platemap_well_column": well_column},
                line=pipeline.line_of("annotate"),
            )
        )
    # a section switched off (perform: false) leaves its files of an earlier run to read
    annotated = any(s.name == "annotate" for s in steps)
    for key, suffix, base in (
        ("normalize", "_normalized", samples),
        ("normalize_negcon", "_normalized_negcon", NEGCON),
    ):
        if (norm := section(key)) is None:
            continue
        steps.append(
            Step(
                name=key,
                op="normalize",
                level="plate",
                input="annotate" if annotated else None,
                input_file=None if annotated else per_plate + "_augmented" + ext,
                output=per_plate + suffix + ext,
                params={
                    "method": norm.get("method", "mad_robustize"),
                    "reference": _samples(base, int(norm.get("min_cells", 1))),
                    "mad_robustize_epsilon": float(norm.get("mad_robustize_fudge_factor", 0)),
                },
                features=_as_plain(norm.get("features", "infer")),
                compartments=compartments,
                image_features=bool(norm.get("image_features", False)),
                section={
                    key: _as_plain(norm),
                    "options": _options_used(options, samples=key == "normalize"),
                },
                line=pipeline.line_of(key),
            )
        )
    for key, source_step, infix in (
        ("feature_select", "normalize", ""),
        ("feature_select_negcon", "normalize_negcon", "_negcon"),
    ):
        if (fs := section(key)) is None:
            continue
        normalized = any(s.name == source_step for s in steps)
        level = fs.get("level", "plate")
        stem = f"_normalized_feature_select{infix}_{level}"
        gct = None
        stacked = None
        if fs.get("gct", False) and level in ("batch", "all"):
            stacked = "../gct/{batch}/{batch}" + stem + ".csv.gz"
            gct = "../gct/{batch}/{batch}" + stem + ".gct"
        steps.append(
            Step(
                name=key,
                op="feature_select",
                level=level,
                input=source_step if normalized else None,
                input_file=None if normalized else per_plate + "_normalized" + infix + ext,
                output=per_plate + stem + ext,
                stacked=stacked,
                gct=gct,
                batch_column="Metadata_batch" if level in ("batch", "all") else None,
                params={
                    "operations": list(
                        fs.get(
                            "operations",
                            [
                                "variance_threshold",
                                "correlation_threshold",
                                "drop_na_columns",
                                "blocklist",
                            ],
                        )
                    )
                },
                features=_as_plain(fs.get("features", "infer")),
                compartments=compartments,
                image_features=bool(fs.get("image_features", False)),
                section={key: _as_plain(fs), "options": _options_used(options, samples=False)},
                line=pipeline.line_of(key),
            )
        )
    for step in steps:  # a misspelt method or operation fails now, not when its step runs
        written = pipeline.get(step.name, LineDict())
        for name, value in step.params.items():
            line = written.line_of(name) if name in written else step.line
            _check_choice(where, step.op, name, value, line)
    out = _output_location(
        where,
        output_dir,
        ws,
        pipeline.get("output_dir", "profiles"),
        pipeline.line_of("output_dir"),
        "output_dir",
    )
    return {
        "dialect": "profiling-recipe",
        "name": str(pipeline.get("pipeline", path.stem)),
        "workspace": ws,
        "output_dir": out,
        "plates": plates,
        "steps": steps,
        "float_format": float_format,
        "compression": "gzip" if compression == "gzip" else None,
        "warnings": warnings,
    }


#: URL schemes an output folder may use (written through s3fs)
_OUTPUT_SCHEMES = ("s3", "s3a")


def _output_location(
    where: _Where,
    given: Path | str | None,
    workspace: Path,
    written: str,
    line: int,
    key: str,
) -> Path | str:
    """The output folder: a resolved local Path, or an ``s3://`` prefix (str, no trailing /).

    ``given`` (``--output-dir``/``output_dir=``) wins over the recipe's ``written``
    value (relative to the workspace). A URL with another scheme is a
    :class:`RecipeError` naming the recipe line (or the option).
    """
    value: Path | str = given if given is not None else written
    text = str(value)
    if "://" not in text:
        return Path(value).resolve() if given is not None else workspace / text
    scheme = text.split("://", 1)[0].lower()
    bucket = text.split("://", 1)[1].split("/", 1)[0]
    if scheme not in _OUTPUT_SCHEMES or not bucket:
        what = "--output-dir / output_dir=" if given is not None else f"{key}:"
        msg = (
            f"{what} {text!r}: outputs can be written to a local folder or an "
            f"s3://bucket/prefix, not a {scheme}:// URL"
        )
        if given is not None:
            raise RecipeError(msg)
        raise where.fail(line, msg)
    return text.rstrip("/")


# ----------------------------------------------------------------------------- cytoplan v1

CYTOPLAN_SPEC: dict[str, Any] = {
    "version": "int",
    "name": "str",
    "workspace": "str",
    "output": {
        "dir": "str",
        "format": ("parquet", "csv", "csv.gz", "tsv", "tsv.gz"),
        "float_format": "str",
        # gzip for .csv.gz/.tsv.gz; a Parquet codec for .parquet
        "compression": ("gzip", "snappy", "zstd", "lz4", "brotli", "uncompressed"),
        "storage_options": "mapping",
    },
    "inputs": {
        "single_cells": "any",
        "plates": "list[str]",
        "barcode_platemap": "str",
        "platemap": "str",
        "external_metadata": "str",
        "storage_options": "mapping",
    },
    "steps": "mapping",
}
#: keys every step may have besides the operation's own parameters
STEP_KEYS: dict[str, Any] = {
    "op": OPS,
    "input": "str",
    "level": ("plate", "batch", "all"),
    "output": "str",
    "stacked": "str",
    "gct": "any",
    "statistics": "str",
    "save_statistics": "str",
    "features": "str|list[str]",
    "compartments": "list[str]",
    "image_features": "bool",
}
#: keys of aggregate steps only: the image table's columns (SingleCells.aggregate_profiles)
AGGREGATE_KEYS: dict[str, Any] = {
    "image_feature_categories": "list[str]",
    "add_image_features": "bool",
    "site_count": "bool",
    "image_columns": "list[str]",
}
#: parameters the runner fills from ``inputs`` (not step keys)
_RUNNER_PARAMS = {"profiles", "platemap", "external_metadata", "memory_limit"}
_SOURCE_KEYS = {"path": "str", "batch": "name", "plate": "name", "platemap": "str"}


def op_parameters(op: str) -> dict[str, inspect.Parameter]:
    """Keyword parameters a recipe step of operation ``op`` accepts (from the function).

    >>> sorted(op_parameters("consensus"))[:3]
    ['method', 'min_weight', 'modz_method']
    """
    import cytoplan.api as api

    function = getattr(api, op)
    signature = inspect.signature(function)
    return {
        name: parameter
        for name, parameter in signature.parameters.items()
        if name not in _RUNNER_PARAMS
        and parameter.kind == parameter.KEYWORD_ONLY
        and name != "features"
    }


def _check_param(
    where: _Where, op: str, name: str, value: Any, parameter: inspect.Parameter, line: int
) -> None:
    default = parameter.default
    if isinstance(default, bool):
        ok, want = isinstance(value, bool), "true or false"
    elif isinstance(default, int | float):
        ok, want = _is_type(value, "number"), "a number"
    elif isinstance(default, tuple) or (
        isinstance(default, str) and "Sequence" in str(parameter.annotation)
    ):
        ok, want = _is_type(value, "str|list[str]"), "a text or a list of texts"
    elif isinstance(default, str):
        ok, want = isinstance(value, str), "a text"
    else:
        ok, want = True, ""
    if not ok:
        msg = f"{op} parameter {name} must be {want}, not {value!r}"
        raise where.fail(line, msg)
    _check_choice(where, op, name, value, line)


def _check_choice(where: _Where, op: str, name: str, value: Any, line: int) -> None:
    """A value of a parameter with a fixed list of choices (a misspelt method or
    operation fails when the recipe loads, with the closest choice)."""
    allowed = _choices().get((op, name))
    if allowed is not None:
        fold = name != "spherize_method"  # the others are case-insensitive, as in Python
        known = {choice.lower() if fold else choice: choice for choice in allowed}
        for item in [value] if isinstance(value, str) else list(value):
            text = str(item).lower() if fold else str(item)
            if not isinstance(item, str) or text not in known:
                close = difflib.get_close_matches(text, list(known), n=1)
                hint = f" (did you mean {known[close[0]]!r}?)" if close else ""
                msg = (
                    f"{op} parameter {name}: unknown {item!r}{hint}; "
                    f"choose from {', '.join(allowed)}"
                )
                raise where.fail(line, msg)


def _choices() -> dict[tuple[str, str], tuple[str, ...]]:
    """Parameters whose values come from a fixed list: checked when the recipe loads,
    not when its step runs after the earlier ones."""
    from cytoplan.ops.feature_select import OPERATIONS
    from cytoplan.ops.normalize import METHODS

    return {
        ("aggregate", "method"): ("median", "mean"),
        ("normalize", "method"): tuple(METHODS),
        ("normalize", "spherize_method"): ("PCA", "ZCA", "PCA-cor", "ZCA-cor"),
        ("feature_select", "operations"): OPERATIONS,
        ("feature_select", "corr_method"): ("pearson", "spearman", "kendall"),
        ("consensus", "method"): ("median", "mean", "modz"),
        ("consensus", "modz_method"): ("spearman", "pearson", "kendall"),
    }


def _plate_from_path(path: str) -> tuple[str, str]:
    """``.../<batch>/<plate>/<plate>[_suffix].ext`` → (batch, plate); else (parent, stem).

    >>> _plate_from_path("profiles/B1/P1/P1_augmented.csv.gz"), _plate_from_path("B1/P2.parquet")
    (('B1', 'P1'), ('B1', 'P2'))
    """
    parts = Path(path.split("://", 1)[-1]).parts
    stem = parts[-1].split(".", 1)[0]
    if len(parts) >= 3 and (stem == parts[-2] or stem.startswith(parts[-2] + "_")):
        return parts[-3], parts[-2]
    if len(parts) >= 3 and parts[-2] == stem:
        return parts[-3], stem
    if len(parts) >= 2:
        return parts[-2], stem
    return "batch", stem


def _expand_sources(where: _Where, inputs: LineDict, ws: Path) -> list[dict[str, Any]]:
    raw = inputs.get("single_cells")
    at = inputs.line_of("single_cells")
    if raw is None:
        raise where.fail(inputs.line, "inputs needs 'single_cells: <path, glob or URL>'")
    entries = raw if isinstance(raw, list) else [raw]
    found: list[dict[str, Any]] = []
    for index, entry in enumerate(entries):
        line = entries.line_of(index) if isinstance(entries, LineList) else at
        if isinstance(entry, LineDict):
            _check_section(where, entry, _SOURCE_KEYS, "a single_cells entry", line=line)
            if "path" not in entry:
                raise where.fail(line, "a single_cells entry needs 'path:'")
            text = entry["path"]
            batch, plate = _plate_from_path(text)
            item = {
                "path": text,
                "batch": str(entry.get("batch", batch)),
                "plate": str(entry.get("plate", plate)),
                "line": line,
                "platemap": entry.get("platemap"),
            }
            if "://" not in text:
                item["path"] = str(ws / text)
                _require_file(where, Path(item["path"]), line, "single_cells")
            found.append(item)
            continue
        if not isinstance(entry, str):
            raise where.fail(
                line, f"single_cells entries must be paths, globs or URLs, not {entry!r}"
            )
        if "://" in entry:
            batch, plate = _plate_from_path(entry)
            found.append({"path": entry, "batch": batch, "plate": plate, "line": line})
            continue
        pattern = str(ws / entry)
        matches = sorted(glob.glob(pattern)) if glob.has_magic(entry) else [pattern]  # noqa: PTH207
        if not matches:
            raise where.fail(
                line, f"no file matches {entry!r} in {str(ws)!r}; check the glob and the workspace"
            )
        for match in matches:
            _require_file(where, Path(match), line, "single_cells")
            relative = str(Path(match).relative_to(ws)) if Path(match).is_relative_to(ws) else match
            batch, plate = _plate_from_path(relative)
            found.append({"path": match, "batch": batch, "plate": plate, "line": line})
    return found


def _check_saved_statistics(
    where: _Where, name: str, body: LineDict, params: dict[str, Any]
) -> None:
    """A step that applies saved statistics takes everything else from the file."""
    if "save_statistics" in body:
        msg = (
            f"step {name}: statistics applies saved statistics and save_statistics saves "
            "newly fitted ones; give one of them"
        )
        raise where.fail(body.line_of("save_statistics"), msg)
    clashing = [key for key in [*params, "features"] if key in body and key != "memory_limit"]
    if clashing:
        msg = (
            f"step {name}: with statistics, the method, reference, groups and features come "
            f"from the saved file; remove {', '.join(clashing)}"
        )
        raise where.fail(body.line_of(clashing[0]), msg)


def _image_options(where: _Where, name: str, body: LineDict) -> dict[str, Any]:
    """An aggregate step's image-table keys → :class:`Step` fields.

    ``image_feature_categories`` adds ``Metadata_Site_Count`` and those image features
    (pycytominer's ``add_image_features=True``, the default when categories are
    given); ``add_image_features: false`` keeps only the site count, as does
    ``site_count: true`` alone.
    """
    categories: list[str] | None = body.get("image_feature_categories")
    add = bool(body.get("add_image_features", categories is not None))
    if add and not categories:
        line = body.line_of(
            "add_image_features" if "add_image_features" in body else "image_feature_categories"
        )
        msg = (
            f"step {name}: add_image_features needs image_feature_categories, "
            "e.g. [Count, Intensity] (as pycytominer's SingleCells)"
        )
        raise where.fail(line, msg)
    if categories is not None and body.get("site_count") is False:
        msg = (
            f"step {name}: image_feature_categories come with Metadata_Site_Count "
            "(as in pycytominer's SingleCells); remove site_count: false"
        )
        raise where.fail(body.line_of("site_count"), msg)
    options: dict[str, Any] = {
        "image_feature_categories": tuple(categories) if add and categories else None,
        "site_count": bool(body.get("site_count", False)) or categories is not None,
    }
    if "image_columns" in body:
        options["image_columns"] = tuple(body["image_columns"])
    return options


def _cytoplan_recipe(
    where: _Where, doc: Any, path: Path, workspace: Path | None, output_dir: Path | str | None
) -> dict[str, Any]:
    recipe = _check_section(where, doc, CYTOPLAN_SPEC, "the recipe", line=1)
    if recipe.get("version") != 1:
        msg = f"version must be 1 (the only cytoplan recipe version), not {recipe.get('version')!r}"
        raise where.fail(recipe.line_of("version"), msg)
    ws = (workspace or (path.parent / recipe.get("workspace", "."))).resolve()
    output = recipe.get("output", LineDict())
    fmt = output.get("format", "parquet")
    ext = "." + fmt
    if "inputs" not in recipe:
        raise where.fail(recipe.line, "the recipe needs an 'inputs:' section naming single_cells")
    inputs = recipe["inputs"]
    sources = _expand_sources(where, inputs, ws)
    keep = inputs.get("plates")
    if keep is not None:
        sources = [s for s in sources if s["plate"] in keep]
    barcode_template = inputs.get("barcode_platemap")
    platemap_template = inputs.get("platemap")
    external = inputs.get("external_metadata")
    if external is not None and "://" not in external:
        _require_file(
            where, ws / external, inputs.line_of("external_metadata"), "external_metadata"
        )
        external = str(ws / external)
    plates: list[PlateInput] = []
    seen: set[str] = set()
    for source in sources:
        batch, plate = source["batch"], source["plate"]
        if f"{batch}/{plate}" in seen:
            raise where.fail(source["line"], f"plate {batch}/{plate} is listed twice")
        seen.add(f"{batch}/{plate}")
        platemap = source.get("platemap") or platemap_template
        name = None
        if platemap is not None:
            if "{platemap_name}" in platemap:
                if barcode_template is None:
                    msg = (
                        "platemap uses {platemap_name}: also give barcode_platemap "
                        "(Assay_Plate_Barcode → Plate_Map_Name)"
                    )
                    raise where.fail(inputs.line_of("platemap"), msg)
                barcodes = _read_barcodes(
                    where,
                    ws / barcode_template.format(batch=batch, plate=plate),
                    inputs.line_of("barcode_platemap"),
                )
                if plate not in barcodes:
                    table = barcode_template.format(batch=batch, plate=plate)
                    msg = f"plate {plate} is not in the barcode platemap {table!r}"
                    raise where.fail(source["line"], msg)
                name = barcodes[plate]
            platemap = str(ws / platemap.format(batch=batch, plate=plate, platemap_name=name))
            _require_file(
                where, Path(platemap), inputs.line_of("platemap"), f"plate {plate}: platemap"
            )
        plates.append(PlateInput(batch, plate, source["path"], platemap, external, name))
    if not plates:
        raise where.fail(
            inputs.line_of("single_cells"), "no plate to process (check single_cells and plates)"
        )

    steps_section = recipe.get("steps")
    if not isinstance(steps_section, LineDict) or not steps_section:
        raise where.fail(
            recipe.line_of("steps"),
            "steps must map step names to operations, e.g. 'aggregated: {op: aggregate}'",
        )
    steps: list[Step] = []
    for name, body in steps_section.items():
        at = steps_section.line_of(name)
        body = body if body is not None else LineDict()
        if not isinstance(body, LineDict):
            raise where.fail(
                at, f"step {name!r} must be a mapping, e.g. '{name}: {{op: normalize}}'"
            )
        op = body.get("op", name)
        if op not in OPS:
            msg = (
                f"step {name!r} needs 'op:' set to one of {', '.join(OPS)} (or be named after one)"
            )
            raise where.fail(body.line_of("op"), msg)
        parameters = op_parameters(op)
        params: dict[str, Any] = {}
        for key, value in body.items():
            line = body.line_of(key)
            if key in STEP_KEYS or (key in AGGREGATE_KEYS and op == "aggregate"):
                kind = STEP_KEYS.get(key, AGGREGATE_KEYS.get(key))
                if not _is_type(value, kind):
                    raise where.fail(
                        line, f"step {name}: {key} must be {_describe(kind)}, not {value!r}"
                    )
                continue
            if key in AGGREGATE_KEYS:
                msg = f"step {name}: {key} applies to aggregate steps only (this is {op})"
                raise where.fail(line, msg)
            if key not in parameters:
                extra = set(AGGREGATE_KEYS) if op == "aggregate" else set()
                known = sorted(set(parameters) | set(STEP_KEYS) | extra)
                close = difflib.get_close_matches(key, known, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                msg = (
                    f"unknown key {key!r} in step {name!r} ({op}); "
                    f"known keys: {', '.join(known)}{hint}"
                )
                raise where.fail(line, msg)
            _check_param(where, op, key, value, parameters[key], line)
            params[key] = _as_plain(value)
        level = body.get("level", "all" if op == "consensus" else "plate")
        if op in ("aggregate", "annotate", "normalize") and level != "plate":
            raise where.fail(
                body.line_of("level"), f"step {name}: {op} runs per plate (level: plate)"
            )
        source_step = body.get("input", steps[-1].name if steps else None)
        if source_step is not None and not any(s.name == source_step for s in steps):
            earlier = ", ".join(s.name for s in steps) or "none"
            msg = f"step {name}: input {source_step!r} is not an earlier step ({earlier})"
            raise where.fail(body.line_of("input"), msg)
        for key in ("statistics", "save_statistics"):
            if key in body and op != "normalize":
                msg = f"step {name}: {key} applies to normalize steps only"
                raise where.fail(body.line_of(key), msg)
        if "statistics" in body:
            _check_saved_statistics(where, name, body, params)
        if op == "annotate" and plates[0].platemap is None:
            raise where.fail(at, "an annotate step needs inputs.platemap")
        if op == "aggregate" and "object_count" not in params:
            params["object_count"] = True
        image = _image_options(where, name, body) if op == "aggregate" else {}
        per_plate = body.get("output", "{batch}/{plate}/{plate}_" + name + ext)
        plate_output = per_plate if level == "plate" or op == "feature_select" else None
        default_stacked = None
        if op == "consensus" and level != "plate":
            default_stacked = ("{batch}/{batch}_" if level == "batch" else "") + name + ext
        stacked = body.get("stacked", default_stacked)
        gct = body.get("gct")
        if gct is True:
            gct = ("gct/{batch}/{batch}_" if level == "batch" else "gct/") + name + ".gct"
            if level == "plate":
                gct = "{batch}/{plate}/{plate}_" + name + ".gct"
        elif gct is False:
            gct = None
        elif gct is not None and not isinstance(gct, str):
            raise where.fail(
                body.line_of("gct"), f"step {name}: gct must be true, false or a path template"
            )
        for key, template in (("stacked", stacked), ("gct", gct)):
            if level != "plate" and isinstance(template, str) and "{plate}" in template:
                msg = (
                    f"step {name}: {key} {template!r} uses {{plate}}, but a level: {level} "
                    "file holds several plates; name it with {batch} (or a fixed name)"
                )
                raise where.fail(body.line_of(key), msg)
        steps.append(
            Step(
                name=name,
                op=op,
                level=level,
                input=source_step,
                output=plate_output,
                stacked=stacked,
                gct=gct,
                statistics=body.get("statistics"),
                save_statistics=body.get("save_statistics"),
                params=params,
                features=_as_plain(body.get("features")),
                compartments=tuple(
                    c.title() for c in body.get("compartments", ["Cells", "Cytoplasm", "Nuclei"])
                ),
                image_features=bool(body.get("image_features", False)),
                **image,
                section=_as_plain(body),
                line=at,
            )
        )
    out = _output_location(
        where,
        output_dir,
        ws,
        output.get("dir", "profiles"),
        output.line_of("dir") if "dir" in output else recipe.line,
        "output.dir",
    )
    return {
        "dialect": "cytoplan",
        "name": str(recipe.get("name", path.stem)),
        "workspace": ws,
        "output_dir": out,
        "plates": plates,
        "steps": steps,
        "float_format": output.get("float_format"),
        "compression": output.get("compression"),
        "warnings": [],
        "storage_options": _as_plain(inputs.get("storage_options", {})),
        "output_storage_options": _as_plain(output["storage_options"])
        if "storage_options" in output
        else None,
    }


# ----------------------------------------------------------------------------- entry point


def load_recipe(
    path: str | Path,
    *,
    workspace: str | Path | None = None,
    output_dir: str | Path | None = None,
) -> Recipe:
    """Read and validate a recipe file (either dialect).

    Parameters
    ----------
    path : str or Path
        The YAML file.
    workspace : str or Path, optional
        Folder that relative input paths start from. Default: the current
        folder for profiling-recipe files (its convention: run from
        ``<project>/workspace``); the recipe's ``workspace:`` (relative to the
        recipe file) for cytoplan files.
    output_dir : str or Path, optional
        Where outputs go instead of the recipe's ``output_dir`` / ``output.dir``.

    Returns
    -------
    Recipe

    Raises
    ------
    RecipeError
        Unknown key, wrong type, missing file, bad YAML — with ``file:line``.
    """
    recipe_path = Path(path)
    if not recipe_path.is_file():
        msg = f"recipe file {str(recipe_path)!r} does not exist"
        raise RecipeError(msg)
    data = recipe_path.read_bytes()
    where = _Where(recipe_path)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        msg = f"{recipe_path}: not a UTF-8 text file; a recipe is YAML text"
        raise RecipeError(msg) from None
    docs = load_documents(text, str(recipe_path))
    if not docs:
        raise where.fail(1, "the recipe is empty")
    first = docs[0]
    if not isinstance(first, LineDict):
        raise where.fail(
            getattr(first, "line", 1), "a recipe starts with a mapping of keys to values"
        )
    ws = Path(workspace) if workspace is not None else None
    out: Path | str | None = None
    if output_dir is not None:
        out = str(output_dir) if "://" in str(output_dir) else Path(output_dir)
        if isinstance(output_dir, Path) and str(output_dir).lower().startswith(("s3:/", "s3a:/")):
            msg = (
                f"output_dir={output_dir!r}: a Path cannot hold a URL (it keeps one '/'); "
                "pass the output folder as a string, e.g. 's3://bucket/prefix'"
            )
            raise RecipeError(msg)
    if "version" in first:
        if len(docs) > 1:
            raise where.fail(
                docs[1].line, "a cytoplan recipe (version: 1) is a single YAML document"
            )
        fields = _cytoplan_recipe(where, first, recipe_path, ws, out)
    else:
        fields = _profiling_recipe(where, docs, recipe_path, ws, out)
    return Recipe(path=recipe_path.resolve(), sha256=hashlib.sha256(data).hexdigest(), **fields)

"""What a recipe says, once loaded: plates (inputs) and ordered steps (outputs).

Both recipe dialects — profiling-recipe's multi-document YAML and cytoplan's
``version: 1`` schema — load into these dataclasses; the runner only sees them.

Examples
--------
>>> step = Step(name="aggregated", op="aggregate", level="plate", input=None,
...             output="{batch}/{plate}/{plate}.parquet")
>>> step.data_level
'3'
>>> PlateInput(batch="B1", plate="P1", source="P1.sqlite").key
'B1/P1'
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

__all__ = [
    "DATA_LEVELS",
    "OPS",
    "Dialect",
    "Level",
    "OpName",
    "PlateInput",
    "Recipe",
    "Step",
]

OpName = Literal["aggregate", "annotate", "normalize", "feature_select", "consensus"]
Level = Literal["plate", "batch", "all"]
Dialect = Literal["profiling-recipe", "cytoplan"]

#: the operations a step can run, in the usual order
OPS: tuple[OpName, ...] = ("aggregate", "annotate", "normalize", "feature_select", "consensus")

#: Cell Painting Gallery profile level written by each operation
DATA_LEVELS: dict[str, str] = {
    "aggregate": "3",
    "annotate": "3",
    "normalize": "4a",
    "feature_select": "4b",
    "consensus": "5",
}


@dataclass(frozen=True)
class PlateInput:
    """One plate: its batch, its single-cell source and its platemap.

    Attributes
    ----------
    batch, plate : str
        Names used in output paths (``{batch}``, ``{plate}``).
    source : str
        Single cells: CellProfiler SQLite, CSV folders, Parquet/CSV (path or URL).
    platemap : str, optional
        The plate's platemap table (``platemap/<name>.txt``).
    external_metadata : str, optional
        A table joined onto the platemap columns (``annotate``'s ``external_metadata``).
    platemap_name : str, optional
        The platemap's name from ``barcode_platemap.csv``.
    """

    batch: str
    plate: str
    source: str
    platemap: str | None = None
    external_metadata: str | None = None
    platemap_name: str | None = None

    @property
    def key(self) -> str:
        """``batch/plate``."""
        return f"{self.batch}/{self.plate}"


@dataclass(frozen=True)
class Step:
    """One operation applied per plate, per batch or to all plates.

    Attributes
    ----------
    name : str
        Unique step name; later steps name it as their ``input``.
    op : {"aggregate", "annotate", "normalize", "feature_select", "consensus"}
    level : {"plate", "batch", "all"}
        ``plate``: once per plate. ``batch``/``all``: the plates' inputs are
        stacked (per batch / all together) and the operation fitted once.
    input : str or None
        Name of the step whose outputs are read (None: the plates' single cells).
    params : dict
        Keyword arguments of the public function (``cytoplan.<op>``).
    output : str or None
        Per-plate output path template (``{batch}``, ``{plate}``), relative to
        the output folder. Batch/all-level feature selection splits its result
        back into per-plate files with it.
    stacked : str or None
        Path template of the stacked result of a batch/all-level step (``{batch}``).
    gct : str or None
        Path template of a GCT file of the stacked result.
    input_file : str or None
        With no ``input`` step: a per-plate path template, relative to the output
        folder, of the table to read (the file a step switched off with
        ``perform: false`` wrote in an earlier run, as profiling-recipe reads it);
        None reads the plates' single cells.
    batch_column : str or None
        Batch/all-level steps: a metadata column holding each plate's batch,
        added to the stacked input (profiling-recipe adds ``Metadata_batch``);
        kept in stacked and GCT outputs, dropped from per-plate files.
    statistics : str or None
        ``normalize`` only: path template of saved statistics to apply instead of
        fitting (:meth:`~cytoplan.ops.normalize.Normalizer.load`).
    save_statistics : str or None
        ``normalize`` only: path template where the fitted statistics are saved.
    features, compartments, image_features
        Feature columns: ``"infer"`` (pycytominer's rule over ``compartments``,
        plus ``Image_*`` with ``image_features``), a list of names, or None (the
        function's default).
    image_feature_categories, site_count, image_columns
        ``aggregate`` only: add what ``SingleCells.aggregate_profiles`` adds from
        the plate's image table (:func:`cytoplan.ops.image_features.add_image_features`):
        ``Metadata_Site_Count`` when ``site_count``, and image features of these
        categories (``("Count", "Intensity")``; None: none). ``image_columns`` is
        pycytominer's ``image_cols``.
    section : Any
        The recipe's text for this step (JSON-able): its hash decides re-runs.
    line : int
        Line of the step in the recipe file.
    """

    name: str
    op: OpName
    level: Level
    input: str | None
    output: str | None = None
    stacked: str | None = None
    gct: str | None = None
    input_file: str | None = None
    batch_column: str | None = None
    statistics: str | None = None
    save_statistics: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    features: str | list[str] | None = None
    compartments: tuple[str, ...] = ("Cells", "Cytoplasm", "Nuclei")
    image_features: bool = False
    image_feature_categories: tuple[str, ...] | None = None
    site_count: bool = False
    image_columns: tuple[str, ...] = ("TableNumber", "ImageNumber", "Metadata_Site")
    section: Any = None
    line: int = 0

    @property
    def data_level(self) -> str:
        """Profile level written (3, 4a, 4b or 5)."""
        return DATA_LEVELS[self.op]


@dataclass(frozen=True)
class Recipe:
    """A loaded, validated recipe.

    Attributes
    ----------
    path : Path
        The recipe file.
    sha256 : str
        SHA-256 of the file's bytes.
    dialect : {"profiling-recipe", "cytoplan"}
    name : str
    workspace : Path
        Folder that relative input paths resolve from.
    output_dir : Path or str
        Folder that output templates resolve from: a local folder (Path) or an
        ``s3://`` prefix (str; outputs are computed in a local staging folder
        and uploaded, see :mod:`cytoplan.recipe.store`).
    plates : list of PlateInput
    steps : list of Step
        In execution order (every step after the step it reads).
    float_format : str or None
        printf format of floats in CSV/TSV outputs.
    compression : str or None
        Output compression (``gzip`` for ``.gz`` text; Parquet codec otherwise).
    warnings : list of str
        Sections accepted but not (yet) run, e.g. ``quality_control``.
    storage_options : dict
        Object-store options for remote inputs (``endpoint_url``, ``region``,
        ``anon``, ...; see :func:`cytoplan.io.remote.storage_options_for`).
    output_storage_options : dict or None
        Object-store options for a remote output folder (None: the same as
        ``storage_options``).
    """

    path: Path
    sha256: str
    dialect: Dialect
    name: str
    workspace: Path
    output_dir: Path | str
    plates: list[PlateInput]
    steps: list[Step]
    float_format: str | None = None
    compression: str | None = None
    warnings: list[str] = field(default_factory=list)
    storage_options: dict[str, Any] = field(default_factory=dict)
    output_storage_options: dict[str, Any] | None = None

    @property
    def remote_output(self) -> bool:
        """True when the output folder is an object-store prefix (``s3://...``)."""
        return isinstance(self.output_dir, str)

    @property
    def output_options(self) -> dict[str, Any]:
        """Object-store options of the output folder."""
        if self.output_storage_options is not None:
            return self.output_storage_options
        return self.storage_options

    def step(self, name: str) -> Step:
        """The step called ``name``."""
        for step in self.steps:
            if step.name == name:
                return step
        msg = f"no step named {name!r}"
        raise KeyError(msg)

"""pycytominer's ``cyto_utils.DeepProfiler_processing``: DeepProfiler npz → profiles.

``DeepProfilerData`` locates the per-site files from the index; ``AggregateDeepProfiler``
aggregates them per site, well or plate (one key's files in memory at a time);
``SingleCellDeepProfiler`` concatenates single cells and normalizes them. Files are
read by :mod:`cytoplan.io.deepprofiler`, aggregation and normalization run on
cytoplan's engine. For a lazy pipeline use :func:`cytoplan.io.deepprofiler.scan_deepprofiler`
with :func:`cytoplan.ops.aggregate.aggregate` directly (see docs/migration.md).
"""

from __future__ import annotations

import pathlib
import warnings
from typing import Any

import pandas as pd

from cytoplan.compat.pycytominer.cyto_utils.features import infer_cp_features
from cytoplan.compat.pycytominer.cyto_utils.load import load_npz_features, load_npz_locations
from cytoplan.compat.pycytominer.cyto_utils.output import output

__all__ = ["AggregateDeepProfiler", "DeepProfilerData", "SingleCellDeepProfiler"]

#: keys aggregated per call of the engine (each key's files are loaded whole)
_KEYS_PER_CALL = 16
_KEY = "__compat_aggregate_key__"

_DEPRECATED = (
    "The {} class is deprecated and will be removed in a future Pycytominer release. "
    "Please use CytoTable instead: https://github.com/cytomining/CytoTable"
)


class DeepProfilerData:
    """A DeepProfiler project: the index (read as text) and the features folder.

    >>> import tempfile, pathlib, warnings
    >>> from cytoplan.testing.deepprofiler import write_deepprofiler_project
    >>> p = write_deepprofiler_project(pathlib.Path(tempfile.mkdtemp()), n_plates=1, sites=1)
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     data = DeepProfilerData(str(p.index_file), str(p.profile_dir))
    >>> data.build_filenames()
    >>> data.filenames[0].name
    'A01_1.npz'
    """

    def __init__(
        self,
        index_file: str,
        profile_dir: str,
        filename_delimiter: str = "_",
        file_extension: str = ".npz",
    ) -> None:
        warnings.warn(_DEPRECATED.format("DeepProfilerData"), DeprecationWarning, stacklevel=2)
        self.index_df = pd.read_csv(index_file, dtype=str)
        self.profile_dir = profile_dir
        self.filename_delimiter = filename_delimiter
        self.file_extension = file_extension
        if not self.file_extension.startswith("."):
            self.file_extension = f".{self.file_extension}"

    def build_filenames(self) -> None:
        """Set ``filenames``: one path per index row."""
        names = self.index_df.apply(self.build_filename_from_index, axis="columns")
        self.filenames = [pathlib.PurePath(f"{self.profile_dir}/{x}") for x in names]

    def build_filename_from_index(self, row: pd.Series) -> str:
        """``<plate>/<well><delimiter><site><extension>`` for an index row."""
        plate, well, site = row["Metadata_Plate"], row["Metadata_Well"], row["Metadata_Site"]
        return f"{plate}/{well}{self.filename_delimiter}{site}{self.file_extension}"

    def extract_filename_metadata(self, npz_file: Any, delimiter: str = "_") -> dict[str, str]:
        """Plate, well and site from a file name (``"/"``: ``plate/well/site.npz``)."""
        path = pathlib.PurePath(npz_file)
        if delimiter == "/":
            site, well, plate = path.stem, path.parent.name, path.parent.parent.name
        else:
            parts = path.stem.split(delimiter)
            site, well, plate = parts[-1], parts[-2], path.parent.name
        return {"site": site, "well": well, "plate": plate}


class AggregateDeepProfiler:
    """Aggregate DeepProfiler features per site, well or plate.

    The result keeps the metadata that is constant within each key, adds
    ``Metadata_<Level>_Position`` and drops every column holding a missing value
    (pycytominer's behaviour).
    """

    def __init__(
        self,
        deep_data: DeepProfilerData,
        aggregate_operation: str = "median",
        aggregate_on: str = "well",
        output_file: str | None = None,
    ) -> None:
        warnings.warn(_DEPRECATED.format("AggregateDeepProfiler"), DeprecationWarning, stacklevel=2)
        if aggregate_operation not in ("median", "mean"):
            msg = "Input of aggregate_operation is incorrect, it must be either median or mean"
            raise ValueError(msg)
        if aggregate_on not in ("site", "well", "plate"):
            msg = "Input of aggregate_on is incorrect, it must be either site or well or plate"
            raise ValueError(msg)
        self.deep_data = deep_data
        self.aggregate_operation = aggregate_operation
        self.aggregate_on = aggregate_on
        self.output_file = output_file

    def setup_aggregate(self) -> None:
        """Group the files by aggregation key (``file_aggregate``)."""
        if not hasattr(self.deep_data, "filenames"):
            self.deep_data.build_filenames()
        self.file_aggregate: dict[str, dict[str, Any]] = {}
        for filename in self.deep_data.filenames:
            info = self.deep_data.extract_filename_metadata(
                filename, self.deep_data.filename_delimiter
            )
            key = info[self.aggregate_on]
            if self.aggregate_on == "site":
                key = f"{info['plate']}/{info['well']}_{info['site']}"
            if self.aggregate_on == "well":
                key = f"{info['plate']}/{info['well']}"
            entry = self.file_aggregate.setdefault(key, {"files": []})
            entry["files"].append(filename)
            entry["metadata"] = info

    def aggregate_deep(self) -> pd.DataFrame:
        """One aggregated profile per key.

        Keys are loaded a batch at a time (``_KEYS_PER_CALL`` keys, each key's files
        together) and each batch is one call of cytoplan's ``aggregate`` grouped by
        key, which gives the same rows as pycytominer's call per key.
        """
        if not hasattr(self, "file_aggregate"):
            self.setup_aggregate()
        self.aggregate_merge_col = f"Metadata_{self.aggregate_on.capitalize()}_Position"
        frames: list[pd.DataFrame] = []
        profiles: list[str] = []
        pending: list[tuple[str, pd.DataFrame, pd.DataFrame]] = []
        for key, entry in self.file_aggregate.items():
            loaded = [load_npz_features(str(x)) for x in entry["files"]]
            loaded = [x for x in loaded if not x.empty]
            if not loaded:
                warnings.warn(
                    f"No files for the key {key} could be found.\nThis program will continue, "
                    "but be aware that this might induce errors!",
                    stacklevel=2,
                )
                continue
            df = pd.concat(loaded)
            metadata_cols = infer_cp_features(df, metadata=True)
            profiles = [x for x in df.columns.tolist() if x not in metadata_cols]
            meta_df = pd.DataFrame()
            for col in metadata_cols:
                if len(df[col].unique()) == 1:
                    meta_df[col] = [df[col].unique()[0]]
            pending.append((key, df[profiles], meta_df))
            if len(pending) == _KEYS_PER_CALL:
                frames += self._aggregate_batch(pending)
                pending = []
        if pending:
            frames += self._aggregate_batch(pending)
        result = pd.concat(frames).reset_index(drop=True)
        result.columns = pd.Index([str(x) for x in result.columns])
        meta_features = infer_cp_features(result, metadata=True)
        result = result.reindex(meta_features + [str(x) for x in profiles], axis="columns")
        result = result.dropna(axis="columns")
        self.aggregated_profiles = result
        return result

    def _aggregate_batch(
        self, pending: list[tuple[str, pd.DataFrame, pd.DataFrame]]
    ) -> list[pd.DataFrame]:
        """Aggregate several keys in one call; one frame per key, as pycytominer builds it."""
        from cytoplan.compat.pycytominer.aggregate import aggregate

        batch = pd.concat([df.assign(**{_KEY: key}) for key, df, _ in pending], ignore_index=True)
        features = [c for c in batch.columns if c != _KEY]
        aggregated: Any = aggregate(
            population_df=batch, strata=_KEY, features=features, operation=self.aggregate_operation
        )
        by_key = aggregated.set_index(_KEY)
        frames = []
        for key, df, meta_df in pending:
            values = by_key.loc[[key], list(df.columns)].reset_index(drop=True)
            out = pd.concat(
                [pd.DataFrame({"Metadata_Aggregate_On": [self.aggregate_on]}), values], axis=1
            )
            out.loc[:, self.aggregate_merge_col] = key
            out = pd.concat([out, meta_df], axis=1)
            if self.output_file is not None:
                folder = pathlib.Path(self.output_file)
                folder.mkdir(exist_ok=True)
                out.to_csv(folder / f"{key.replace('/', '_')}.csv", index=False)
            frames.append(out)
        return frames


class SingleCellDeepProfiler:
    """DeepProfiler single cells: locations, metadata and features per cell."""

    def __init__(self, deep_data: DeepProfilerData) -> None:
        warnings.warn(
            _DEPRECATED.format("SingleCellDeepProfiler"), DeprecationWarning, stacklevel=2
        )
        self.deep_data = deep_data

    def get_single_cells(
        self, output: bool = False, location_x_col_index: int = 0, location_y_col_index: int = 1
    ) -> pd.DataFrame:
        """Every site's cells: ``Location_Center_X/Y``, metadata, features."""
        if not hasattr(self.deep_data, "filenames"):
            self.deep_data.build_filenames()
        frames = []
        for path in self.deep_data.filenames:
            features = load_npz_features(str(path))
            if len(features.index) == 0:
                warnings.warn(
                    f"No features could be found at {path}.\nThis program will continue, but "
                    "be aware that this might induce errors!",
                    stacklevel=2,
                )
                continue
            locations = load_npz_locations(str(path), location_x_col_index, location_y_col_index)
            frames.append(pd.concat([locations, features], axis=1))
        sc_df = pd.concat(frames).reset_index(drop=True)
        if not output:
            self.single_cells = sc_df
        return sc_df

    def normalize_deep_single_cells(
        self,
        location_x_col_index: int = 0,
        location_y_col_index: int = 1,
        image_features: bool = False,
        meta_features: str = "infer",
        samples: str = "all",
        method: str = "standardize",
        output_file: str | None = None,
        compression_options: str | None = None,
        float_format: str | None = None,
        mad_robustize_epsilon: float = 1e-18,
        spherize_center: bool = True,
        spherize_method: str = "ZCA-cor",
        spherize_epsilon: float = 1e-6,
    ) -> pd.DataFrame | str:
        """Normalize every non-metadata, non-location column; locations first."""
        from cytoplan.compat.pycytominer.normalize import normalize

        if not hasattr(self, "single_cells"):
            self.get_single_cells(
                output=False,
                location_x_col_index=location_x_col_index,
                location_y_col_index=location_y_col_index,
            )
        metadata_cols = [*infer_cp_features(self.single_cells, metadata=True)]
        metadata_cols += ["Location_Center_X", "Location_Center_Y"]
        derived = [x for x in self.single_cells.columns.tolist() if x not in metadata_cols]
        normalized: Any = normalize(
            profiles=self.single_cells,
            features=derived,
            image_features=image_features,
            meta_features=meta_features,
            samples=samples,
            method=method,
            output_file=None,
            mad_robustize_epsilon=mad_robustize_epsilon,
            spherize_center=spherize_center,
            spherize_method=spherize_method,
            spherize_epsilon=spherize_epsilon,
        )
        normalized.insert(0, "Location_Center_X", self.single_cells["Location_Center_X"])
        normalized.insert(1, "Location_Center_Y", self.single_cells["Location_Center_Y"])
        if output_file is not None:
            return output(
                df=normalized,
                output_filename=output_file,
                compression_options=compression_options,
                float_format=float_format,
            )
        return normalized

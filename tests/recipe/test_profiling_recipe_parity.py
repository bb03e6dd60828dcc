"""The profiling-recipe config, run unchanged by cytoplan, gives pycytominer's numbers.

The reference applies pycytominer 1.7.1 step by step as profiling-recipe does:
each level written to ``.csv.gz`` with ``float_format="%.5g"`` and read back by
the next step (``SingleCells(...).aggregate_profiles()``, as profiling-recipe's
``pipeline_aggregate`` calls it: well medians with object and site counts →
platemap + external metadata annotation → per-plate mad_robustize on all wells
and on negative controls → feature selection across the batch and per plate).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from .conftest import BATCH, PLATES, WORKSPACE

pd = pytest.importorskip("pandas")
pycytominer = pytest.importorskip("pycytominer")

OPERATIONS = ["variance_threshold", "correlation_threshold", "drop_na_columns", "blocklist"]
NEGCON = "Metadata_control_type == 'negcon'"
FMT = "%.5g"


def _out(folder: Path, plate: str, suffix: str) -> Path:
    return folder / BATCH / plate / f"{plate}{suffix}.csv.gz"


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from pycytominer.cyto_utils import infer_cp_features, output, write_gct
    from pycytominer.cyto_utils.cells import SingleCells

    folder = tmp_path_factory.mktemp("pycytominer") / "profiles"
    metadata = WORKSPACE / "metadata"
    platemap = pd.read_csv(metadata / "platemaps" / BATCH / "platemap" / "platemap_1.txt", sep="\t")
    platemap.columns = [
        c if c.startswith("Metadata_") else f"Metadata_{c}" for c in platemap.columns
    ]
    external = pd.read_csv(metadata / "external_metadata" / "external_metadata.tsv", sep="\t")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        normalized = []
        for plate in PLATES:
            (folder / BATCH / plate).mkdir(parents=True)
            sqlite = WORKSPACE / "backend" / BATCH / plate / f"{plate}.sqlite"
            # profiling-recipe's pipeline_aggregate
            wells = SingleCells(
                f"sqlite:///{sqlite}",
                strata=["Metadata_Plate", "Metadata_Well"],
                compartments=["cells", "cytoplasm", "nuclei"],
                aggregation_operation="median",
                fields_of_view="all",
                object_feature="Metadata_ObjectNumber",
                add_image_features=False,
                image_feature_categories=[],
            ).aggregate_profiles()
            output(
                wells, str(_out(folder, plate, "")), float_format=FMT, compression_options="gzip"
            )
            pycytominer.annotate(
                profiles=str(_out(folder, plate, "")),
                platemap=platemap,
                join_on=["Metadata_well_position", "Metadata_Well"],
                external_metadata=external,
                external_join_on=["Metadata_broad_sample"],
                output_file=str(_out(folder, plate, "_augmented")),
                compression_options="gzip",
                float_format=FMT,
                clean_cellprofiler=True,
            )
            for suffix, samples in (("_normalized", "all"), ("_normalized_negcon", NEGCON)):
                pycytominer.normalize(
                    profiles=str(_out(folder, plate, "_augmented")),
                    features="infer",
                    image_features=True,
                    samples=samples,
                    method="mad_robustize",
                    output_file=str(_out(folder, plate, suffix)),
                    compression_options="gzip",
                    float_format=FMT,
                    mad_robustize_epsilon=0.0,
                )
            pycytominer.feature_select(
                profiles=str(_out(folder, plate, "_normalized_negcon")),
                features="infer",
                image_features=True,
                operation=OPERATIONS,
                output_file=str(_out(folder, plate, "_normalized_feature_select_negcon_plate")),
                compression_options="gzip",
                float_format=FMT,
            )
            normalized.append(
                pd.read_csv(_out(folder, plate, "_normalized"))
                .assign(Metadata_batch=BATCH)
                .astype({"Metadata_Plate": str})
            )
        # profiling-recipe's concat_dataframes: the metadata columns, then the features
        stacked = pd.concat(normalized, ignore_index=True)
        stacked = stacked[
            infer_cp_features(stacked, metadata=True)
            + infer_cp_features(stacked, image_features=True)
        ]
        selected = pycytominer.feature_select(
            profiles=stacked,
            features="infer",
            image_features=True,
            operation=OPERATIONS,
        )
        gct = folder.parent / "gct" / BATCH
        gct.mkdir(parents=True)
        stem = f"{BATCH}_normalized_feature_select_batch"
        output(selected, str(gct / f"{stem}.csv.gz"), float_format=FMT, compression_options="gzip")
        write_gct(profiles=selected, output_file=str(gct / f"{stem}.gct"))
        for plate in PLATES:
            part = selected.query("Metadata_Plate == @plate").reset_index(drop=True)
            output(
                part.drop(columns=["Metadata_batch"]),
                str(_out(folder, plate, "_normalized_feature_select_batch")),
                float_format=FMT,
                compression_options="gzip",
            )
    return folder


LEVELS = [
    "",
    "_augmented",
    "_normalized",
    "_normalized_negcon",
    "_normalized_feature_select_batch",
    "_normalized_feature_select_negcon_plate",
]


def _features(columns: list[str]) -> list[str]:
    return [c for c in columns if c.split("_", 1)[0] in ("Cells", "Cytoplasm", "Nuclei")]


@pytest.mark.parametrize("plate", PLATES)
@pytest.mark.parametrize("suffix", LEVELS)
def test_every_level_matches_pycytominer(
    profiling_run: tuple[object, Path], reference: Path, plate: str, suffix: str
) -> None:
    _, ours_folder = profiling_run
    ours = pd.read_csv(_out(ours_folder, plate, suffix))
    theirs = pd.read_csv(_out(reference, plate, suffix))
    assert _features(list(ours.columns)) == _features(list(theirs.columns))
    assert sorted(ours.columns) == sorted(theirs.columns)
    assert len(ours) == len(theirs) > 0
    for column in ("Metadata_Plate", "Metadata_Well", "Metadata_broad_sample"):
        if column in theirs:
            assert ours[column].astype(str).tolist() == theirs[column].astype(str).tolist()
    features = _features(list(theirs.columns))
    mine = ours[features].to_numpy(dtype=float)
    other = theirs[features].to_numpy(dtype=float)
    # both sides write %.5g text and read it back for the next level: identical numbers
    np.testing.assert_array_equal(mine, other)


def _same_metadata(mine: str, theirs: str) -> bool:
    """Metadata are text in cytoplan ("0.0050"); pandas reads numbers ("0.005")."""
    if mine == theirs:
        return True
    try:
        return float(mine) == float(theirs)
    except ValueError:
        return False


@pytest.mark.parametrize("plate", PLATES)
@pytest.mark.parametrize("suffix", LEVELS)
def test_every_level_has_the_same_text(
    profiling_run: tuple[object, Path], reference: Path, plate: str, suffix: str
) -> None:
    """Byte for byte, but for numeric-looking metadata kept as text (docs/parity.md)."""
    import csv
    import gzip

    _, ours_folder = profiling_run
    mine = list(
        csv.reader(
            gzip.decompress(_out(ours_folder, plate, suffix).read_bytes()).decode().splitlines()
        )
    )
    theirs = list(
        csv.reader(
            gzip.decompress(_out(reference, plate, suffix).read_bytes()).decode().splitlines()
        )
    )
    assert mine[0] == theirs[0]
    assert len(mine) == len(theirs)
    header = mine[0]
    for row_mine, row_theirs in zip(mine[1:], theirs[1:], strict=True):
        for name, a, b in zip(header, row_mine, row_theirs, strict=True):
            if name.startswith("Metadata_"):
                assert _same_metadata(a, b), (name, a, b)
            else:
                assert a == b, (name, a, b)


@pytest.mark.parametrize("suffix", [".csv.gz", ".gct"])
def test_stacked_batch_table_and_gct(
    profiling_run: tuple[object, Path], reference: Path, suffix: str
) -> None:
    """profiling-recipe's gct/<batch>/ outputs, with its Metadata_batch column."""
    import gzip

    _, ours_folder = profiling_run
    name = f"{BATCH}_normalized_feature_select_batch{suffix}"
    mine_path = ours_folder.parent / "gct" / BATCH / name
    theirs_path = reference.parent / "gct" / BATCH / name
    read = gzip.decompress if suffix.endswith(".gz") else (lambda data: data)
    separator = "," if suffix.endswith(".gz") else "\t"
    mine = [r.split(separator) for r in read(mine_path.read_bytes()).decode().splitlines()]
    theirs = [r.split(separator) for r in read(theirs_path.read_bytes()).decode().splitlines()]
    assert len(mine) == len(theirs) > 3
    if suffix == ".gct":  # rows are features and metadata; columns are samples
        for row_mine, row_theirs in zip(mine, theirs, strict=True):
            assert row_mine[0] == row_theirs[0]
            assert all(_same_metadata(a, b) for a, b in zip(row_mine, row_theirs, strict=True))
        assert ["batch", "nan"] + [BATCH] * 48 in mine
        return
    assert mine[0] == theirs[0]
    metadata = [c for c in mine[0] if c.startswith("Metadata_")]
    assert metadata[-1] == "Metadata_batch" == mine[0][len(metadata) - 1]  # ends the block
    for row_mine, row_theirs in zip(mine[1:], theirs[1:], strict=True):
        for column, a, b in zip(mine[0], row_mine, row_theirs, strict=True):
            assert a == b or (column.startswith("Metadata_") and _same_metadata(a, b))

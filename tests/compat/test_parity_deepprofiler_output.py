"""AggregateDeepProfiler's per-key CSV files (``output_file``) vs pycytominer 1.7.1.

pycytominer writes one CSV per aggregation key into the ``output_file`` folder
(``<plate>_<well>.csv``, ``<plate>_<well>_<site>.csv`` or ``<plate>.csv``): the key's
aggregated profile (``Metadata_Aggregate_On``, features, ``Metadata_<Level>_Position``,
the constant metadata), before the NaN-column drop of the combined table.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pycytominer.cyto_utils import DeepProfiler_processing as theirs_dp

from cytoplan.compat.pycytominer.cyto_utils import DeepProfiler_processing as ours_dp
from cytoplan.testing.deepprofiler import write_deepprofiler_project

from .conftest import assert_same


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return write_deepprofiler_project(tmp_path_factory.mktemp("dp_out"), n_features=6, seed=4)


def _run(module, project, folder: Path, **kwargs) -> pd.DataFrame:
    data = module.DeepProfilerData(str(project.index_file), str(project.profile_dir))
    return module.AggregateDeepProfiler(data, output_file=str(folder), **kwargs).aggregate_deep()


@pytest.mark.parametrize("level", ["site", "well", "plate"])
@pytest.mark.parametrize("operation", ["median", "mean"])
def test_per_key_csv_files_match(project, tmp_path, level, operation):
    ours_dir, theirs_dir = tmp_path / "ours", tmp_path / "theirs"
    kwargs = {"aggregate_on": level, "aggregate_operation": operation}
    ours_df = _run(ours_dp, project, ours_dir, **kwargs)
    theirs_df = _run(theirs_dp, project, theirs_dir, **kwargs)
    assert_same(ours_df, theirs_df, rtol=1e-6)
    names = sorted(p.name for p in theirs_dir.iterdir())
    assert sorted(p.name for p in ours_dir.iterdir()) == names
    expected = {"site": 2 * 3 * 2, "well": 2 * 3, "plate": 2}[level]
    assert len(names) == expected
    if level == "well":
        assert names[0] == "P1_A01.csv"
    for name in names:
        ours_bytes, theirs_bytes = (ours_dir / name).read_bytes(), (theirs_dir / name).read_bytes()
        if operation == "median":
            assert ours_bytes == theirs_bytes, name  # medians of float32 values: exact
        else:  # means: same text up to the last digits of the sums
            a, b = pd.read_csv(ours_dir / name), pd.read_csv(theirs_dir / name)
            assert_same(a, b, rtol=1e-12)
        frame = pd.read_csv(ours_dir / name)
        assert frame.columns[0] == "Metadata_Aggregate_On"
        assert len(frame) == 1
        position = f"Metadata_{level.capitalize()}_Position"
        assert frame[position].iloc[0].replace("/", "_") == name.removesuffix(".csv")


def test_per_key_csv_files_with_a_missing_site(project, tmp_path):
    """A key whose files are all missing writes no file; the other keys still do."""
    copy = tmp_path / "features"
    shutil.copytree(project.profile_dir, copy)
    (copy / "P2" / "B01_1.npz").unlink()
    (copy / "P2" / "B01_2.npz").unlink()
    (copy / "P1" / "A02_1.npz").unlink()
    frames = []
    for module, name in ((ours_dp, "ours"), (theirs_dp, "theirs")):
        data = module.DeepProfilerData(str(project.index_file), str(copy))
        with pytest.warns(UserWarning, match="P2/B01"):
            frames.append(
                module.AggregateDeepProfiler(
                    data, aggregate_on="well", output_file=str(tmp_path / name)
                ).aggregate_deep()
            )
    assert_same(frames[0], frames[1], rtol=1e-6)
    names = sorted(p.name for p in (tmp_path / "theirs").iterdir())
    assert "P2_B01.csv" not in names and len(names) == 5
    for name in names:
        assert (tmp_path / "ours" / name).read_bytes() == (tmp_path / "theirs" / name).read_bytes()
    ours_a02 = pd.read_csv(tmp_path / "ours" / "P1_A02.csv")
    # one site left: the median is that site's median; constant metadata kept
    site = np.load(copy / "P1" / "A02_2.npz", allow_pickle=True)["features"].astype(float)
    np.testing.assert_allclose(
        ours_a02.filter(like="efficientnet_").to_numpy()[0], np.median(site, axis=0), rtol=1e-12
    )
    assert ours_a02["Metadata_Site"].iloc[0] == 2


def test_output_folder_is_not_created_with_parents(project, tmp_path):
    """pycytominer creates the folder with ``os.mkdir``: a missing parent is an error."""
    for module in (ours_dp, theirs_dp):
        with pytest.raises(FileNotFoundError):
            _run(module, project, tmp_path / "no" / "such" / "folder")

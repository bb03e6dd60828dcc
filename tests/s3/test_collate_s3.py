"""pycytominer-compatible ``collate(aws_remote=...)`` against a moto S3 server on 127.0.0.1.

The remote workspace holds the plate's site CSV folders; collate downloads them
(only ``*/Image.csv``, ``*/Cells.csv``, ``*/Cytoplasm.csv``, ``*/Nuclei.csv``, like
pycytominer's ``aws s3 sync``), ingests, uploads the SQLite and the aggregated CSV
to ``<remote>/backend/<batch>/<plate>/`` and removes the local copies. Endpoint and
credentials come from the ``AWS_*`` environment, as for the AWS CLI.
"""

from __future__ import annotations

import sqlite3
import warnings
from pathlib import Path

import pandas as pd
import pytest
from _s3_helpers import PRIVATE

from cytoplan.compat.pycytominer.cyto_utils import collate
from cytoplan.io.collate import download_csv_folders
from cytoplan.testing.s3 import LocalS3Server

BATCH, PLATE = "2024_01_01_Batch1", "BR00000001"
WORKSPACE = Path(__file__).resolve().parents[2] / "data_fixtures/cpg0000-synthetic/workspace"
SITES = WORKSPACE / "analysis" / BATCH / PLATE / "analysis"
CATEGORIES = ["Granularity", "ImageQuality", "Threshold"]  # the fixture has no Texture


@pytest.fixture
def remote_workspace(s3_server: LocalS3Server, prefix: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """``s3://private/<prefix>`` with the plate's CSV folders (and files collate must skip)."""
    for name, value in s3_server.environment().items():
        monkeypatch.setenv(name, value)
    root = f"{prefix}/analysis/{BATCH}/{PLATE}/analysis"
    for path in sorted(SITES.rglob("*.csv")):
        s3_server.put(PRIVATE, f"{root}/{path.relative_to(SITES).as_posix()}", path.read_bytes())
    s3_server.put(PRIVATE, f"{root}/Cells.csv", b"not,in,a,site,folder\n")
    s3_server.put(PRIVATE, f"{root}/{PLATE}-A01-1/Experiment.csv", b"skipped\n")
    return f"s3://{PRIVATE}/{prefix}"


def _collate(base: Path, **kwargs: object) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        collate(
            BATCH,
            "ingest_config.ini",
            PLATE,
            base_directory=str(base),
            image_feature_categories=CATEGORIES,
            printtoscreen=False,
            **kwargs,
        )


def _tables(path: Path) -> dict[str, pd.DataFrame]:
    with sqlite3.connect(path) as con:
        return {
            t: pd.read_sql_query(f"SELECT * FROM {t}", con)
            for t in ("Image", "Cells", "Cytoplasm", "Nuclei")
        }


def test_download_csv_folders_copies_site_csvs_only(remote_workspace: str, tmp_path: Path) -> None:
    url = f"{remote_workspace}/analysis/{BATCH}/{PLATE}/analysis"
    written = download_csv_folders(url, tmp_path / "in")
    expected = sorted(p.relative_to(SITES) for p in SITES.rglob("*.csv"))
    assert [p.relative_to(tmp_path / "in") for p in written] == expected
    assert len(expected) == 48 * 4  # 24 wells × 2 sites
    for relative in expected:
        assert (tmp_path / "in" / relative).read_bytes() == (SITES / relative).read_bytes()
    assert not (tmp_path / "in" / "Cells.csv").exists()


def test_collate_with_aws_remote_equals_local_collate(
    s3_server: LocalS3Server, remote_workspace: str, prefix: str, tmp_path: Path
) -> None:
    local = tmp_path / "local"
    (local / "analysis" / BATCH / PLATE).mkdir(parents=True)
    import shutil

    shutil.copytree(SITES, local / "analysis" / BATCH / PLATE / "analysis")
    _collate(local, tmp_dir=str(tmp_path / "tmp_local"))
    expected_sqlite = local / "backend" / BATCH / PLATE / f"{PLATE}.sqlite"
    expected_csv = (local / "backend" / BATCH / PLATE / f"{PLATE}.csv").read_bytes()

    base = tmp_path / "remote_run"
    _collate(base, aws_remote=remote_workspace, tmp_dir=str(tmp_path / "tmp_remote"))
    backend_key = f"{prefix}/backend/{BATCH}/{PLATE}"
    assert [k for k in s3_server.keys(PRIVATE, f"{prefix}/backend/")] == [
        f"{backend_key}/{PLATE}.csv",
        f"{backend_key}/{PLATE}.sqlite",
    ]
    # the local CSVs and backend folder are removed, as pycytominer does
    assert not (base / "analysis" / BATCH / PLATE / "analysis").exists()
    assert not (base / "backend" / BATCH / PLATE).exists()
    client = s3_server.client()
    body = client.get_object(Bucket=PRIVATE, Key=f"{backend_key}/{PLATE}.csv")["Body"].read()
    assert body == expected_csv
    fetched = tmp_path / "fetched.sqlite"
    fetched.write_bytes(
        client.get_object(Bucket=PRIVATE, Key=f"{backend_key}/{PLATE}.sqlite")["Body"].read()
    )
    ours, theirs = _tables(fetched), _tables(expected_sqlite)
    for table, frame in theirs.items():
        pd.testing.assert_frame_equal(ours[table], frame, check_exact=True)
    assert len(ours["Cells"]) == 384

    # aggregate_only: the remote SQLite is downloaded, aggregated, the CSV uploaded again
    client.delete_object(Bucket=PRIVATE, Key=f"{backend_key}/{PLATE}.csv")
    again = tmp_path / "aggregate_only"
    _collate(again, aws_remote=remote_workspace, aggregate_only=True)
    body = client.get_object(Bucket=PRIVATE, Key=f"{backend_key}/{PLATE}.csv")["Body"].read()
    assert body == expected_csv
    assert not (again / "backend" / BATCH / PLATE).exists()


def test_collate_remote_failures_exit(
    s3_server: LocalS3Server, remote_workspace: str, tmp_path: Path
) -> None:
    with pytest.raises(SystemExit, match="was generated when copying"):
        _collate(tmp_path / "a", aws_remote=f"s3://{PRIVATE}/no-such-prefix", aggregate_only=True)
    with pytest.raises(SystemExit, match="was generated when copying"):
        _collate(
            tmp_path / "b",
            aws_remote="s3://no-such-bucket/x",
            tmp_dir=str(tmp_path / "tmp"),
        )

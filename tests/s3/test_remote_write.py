"""Writing to S3: write_profiles and convert to s3:// URLs; failed writes leave no object."""

from __future__ import annotations

import gzip
from pathlib import Path

import polars as pl
import pytest
from _s3_helpers import PRIVATE, parquet_bytes, wide_plate

from cytoplan.exceptions import SourceError
from cytoplan.io import remote
from cytoplan.io.convert import convert
from cytoplan.io.profiles import scan_profiles
from cytoplan.io.sinks import write_profiles
from cytoplan.testing.s3 import LocalS3Server

FIXTURES = Path(__file__).resolve().parents[2] / "data_fixtures"
SQLITE = (
    FIXTURES / "cpg0000-synthetic/workspace/backend/2024_01_01_Batch1/BR00000001/BR00000001.sqlite"
)


def test_write_parquet_and_gzipped_csv(
    s3_server: LocalS3Server, prefix: str, credentialed: dict
) -> None:
    frame = wide_plate("BR1", n_features=6, seed=7)
    url = f"s3://{PRIVATE}/{prefix}/out/wells.parquet"
    assert write_profiles(frame.lazy(), url, storage_options=credentialed) == url
    assert scan_profiles(url, storage_options=credentialed).collect().equals(frame)
    csv = f"s3://{PRIVATE}/{prefix}/out/wells.csv.gz"
    write_profiles(frame.head(2), csv, float_format="%.3g", storage_options=credentialed)
    body = s3_server.client().get_object(Bucket=PRIVATE, Key=f"{prefix}/out/wells.csv.gz")
    lines = gzip.decompress(body["Body"].read()).decode().splitlines()
    assert lines[0].startswith("Metadata_Plate,Metadata_Well,Cells_F0000")
    assert lines[1].split(",")[2] == f"{frame['Cells_F0000'][0]:.3g}"
    assert s3_server.keys(PRIVATE, f"{prefix}/") == [
        f"{prefix}/out/wells.csv.gz",
        f"{prefix}/out/wells.parquet",
    ]


def _fails_late(frame: pl.DataFrame) -> pl.LazyFrame:
    """A plan that streams several batches and then raises."""
    seen = {"rows": 0}

    def check(batch: pl.Series) -> pl.Series:
        seen["rows"] += batch.len()
        if seen["rows"] > frame.height // 2:
            msg = "disk on fire"
            raise RuntimeError(msg)
        return batch

    return frame.lazy().with_columns(
        pl.col("Cells_F0000").map_batches(check, return_dtype=pl.Float64)
    )


def test_failed_write_leaves_no_object_and_keeps_the_old_one(
    s3_server: LocalS3Server, prefix: str, credentialed: dict
) -> None:
    frame = pl.concat([wide_plate("BR1", n_wells=8, cells_per_well=50, n_features=50)] * 40)
    new = f"s3://{PRIVATE}/{prefix}/new.parquet"
    with pytest.raises(Exception, match="disk on fire"):
        write_profiles(_fails_late(frame), new, row_group_size=1000, storage_options=credentialed)
    assert s3_server.keys(PRIVATE, f"{prefix}/") == []

    good = wide_plate("OLD", n_features=2)
    old = f"s3://{PRIVATE}/{prefix}/old.parquet"
    write_profiles(good, old, storage_options=credentialed)
    with pytest.raises(Exception, match="disk on fire"):
        write_profiles(_fails_late(frame), old, row_group_size=1000, storage_options=credentialed)
    assert scan_profiles(old, storage_options=credentialed).collect().equals(good)
    assert s3_server.keys(PRIVATE, f"{prefix}/") == [f"{prefix}/old.parquet"]
    uploads = s3_server.client().list_multipart_uploads(Bucket=PRIVATE, Prefix=prefix)
    assert not uploads.get("Uploads")


def test_write_without_permission_is_a_source_error(
    s3_server: LocalS3Server, prefix: str, credentialed: dict
) -> None:
    url = f"s3://{PRIVATE}/{prefix}/x.parquet"
    # moto accepts unsigned PUTs, so the server is told to refuse this one (Polars
    # retries a 403 once, after refreshing credentials)
    s3_server.fail_next(f"/{PRIVATE}/{prefix}/x.parquet", times=2, status=403)
    with pytest.raises(SourceError, match=rf"access denied to write '{url}'"):
        write_profiles(wide_plate("P", n_features=1), url, storage_options=credentialed)
    assert s3_server.keys(PRIVATE, f"{prefix}/") == []


def test_upload_is_atomic(
    s3_server: LocalS3Server, prefix: str, credentialed: dict, tmp_path: Path
) -> None:
    local = tmp_path / "p.parquet"
    local.write_bytes(parquet_bytes(wide_plate("P", n_features=3)))
    url = f"s3://{PRIVATE}/{prefix}/p.parquet"
    remote.upload_file(local, url, credentialed)
    assert s3_server.keys(PRIVATE, f"{prefix}/") == [f"{prefix}/p.parquet"]
    got = s3_server.client().get_object(Bucket=PRIVATE, Key=f"{prefix}/p.parquet")["Body"].read()
    assert got == local.read_bytes()

    # the final copy is refused: no object at the new key, no temporary key left
    other = f"s3://{PRIVATE}/{prefix}/q.parquet"
    s3_server.fail_next(f"/{PRIVATE}/{prefix}/q.parquet", times=1, status=403)
    with pytest.raises(SourceError, match="access denied to write"):
        remote.upload_file(local, other, credentialed)
    assert s3_server.keys(PRIVATE, f"{prefix}/") == [f"{prefix}/p.parquet"]


def test_convert_sqlite_from_s3_to_s3(
    s3_server: LocalS3Server, prefix: str, credentialed: dict, tmp_path: Path
) -> None:
    s3_server.put(PRIVATE, f"{prefix}/BR1.sqlite", SQLITE.read_bytes())
    src, dest = f"s3://{PRIVATE}/{prefix}/BR1.sqlite", f"s3://{PRIVATE}/{prefix}/sc/BR1.parquet"
    report = convert(src, dest, storage_options=credentialed)
    assert report.dest == dest
    local = tmp_path / "local.parquet"
    convert(SQLITE, local)
    remote_cells = scan_profiles(dest, storage_options=credentialed).collect()
    assert remote_cells.equals(pl.read_parquet(local))
    assert report.rows == remote_cells.height > 0


def test_upload_tree_keeps_relative_paths(
    s3_server: LocalS3Server, prefix: str, credentialed: dict, tmp_path: Path
) -> None:
    (tmp_path / "B1/P1").mkdir(parents=True)
    (tmp_path / "B1/P1/P1.parquet").write_bytes(b"one")
    (tmp_path / "B1/P1/P1.parquet.manifest.json").write_text("{}")
    (tmp_path / "top.csv").write_text("a\n")
    written = remote.upload_tree(tmp_path, f"s3://{PRIVATE}/{prefix}/run/", credentialed)
    keys = [f"{prefix}/run/B1/P1/P1.parquet", f"{prefix}/run/B1/P1/P1.parquet.manifest.json",
            f"{prefix}/run/top.csv"]  # fmt: skip
    assert written == [f"s3://{PRIVATE}/{k}" for k in keys]
    assert s3_server.keys(PRIVATE, f"{prefix}/") == keys
    body = s3_server.client().get_object(Bucket=PRIVATE, Key=keys[0])["Body"].read()
    assert body == b"one"
    with pytest.raises(SourceError, match="not a folder"):
        remote.upload_tree(tmp_path / "top.csv", f"s3://{PRIVATE}/{prefix}/x", credentialed)

"""Remote Parquet/CSV on the local S3 server: anonymous and signed reads, pushdown, globs."""

from __future__ import annotations

import gzip
import io

import polars as pl
import pyarrow.parquet as pq
import pytest
from _s3_helpers import GALLERY, PRIVATE, parquet_bytes, wide_plate

from cytoplan.api import scan
from cytoplan.exceptions import SourceError
from cytoplan.io import remote
from cytoplan.io.profiles import read_text_table, scan_profiles
from cytoplan.testing.s3 import LocalS3Server


def test_anonymous_read_of_the_gallery(
    s3_server: LocalS3Server, prefix: str, anonymous: dict
) -> None:
    frame = wide_plate("BR1", n_features=5, seed=1)
    s3_server.put(GALLERY, f"{prefix}/p.parquet", parquet_bytes(frame), public=True)
    got = scan_profiles(f"s3://{GALLERY}/{prefix}/p.parquet", storage_options=anonymous).collect()
    assert got.equals(frame)
    # the requests were unsigned: no Authorization header would pass on the private bucket
    s3_server.put(PRIVATE, f"{prefix}/p.parquet", parquet_bytes(frame))
    with pytest.raises(
        SourceError, match=rf"access denied to read 's3://{PRIVATE}/{prefix}/p.parquet'"
    ):
        scan_profiles(
            f"s3://{PRIVATE}/{prefix}/p.parquet", storage_options={**anonymous, "anon": True}
        )


def test_credentialed_read_of_a_private_bucket(
    s3_server: LocalS3Server, prefix: str, credentialed: dict
) -> None:
    frame = wide_plate("BR2", n_features=4, seed=2)
    s3_server.put(PRIVATE, f"{prefix}/p.parquet", parquet_bytes(frame))
    got = scan(f"s3://{PRIVATE}/{prefix}/p.parquet", storage_options=credentialed).collect()
    assert got.equals(frame)


def test_credentials_from_the_environment(
    s3_server: LocalS3Server, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    frame = wide_plate("BR3", n_features=3, seed=3)
    s3_server.put(PRIVATE, f"{prefix}/p.parquet", parquet_bytes(frame))
    for name, value in s3_server.environment().items():
        monkeypatch.setenv(name, value)
    got = scan_profiles(f"s3://{PRIVATE}/{prefix}/p.parquet").collect()
    assert got.equals(frame)


def test_missing_object_and_bucket_are_404_source_errors(
    s3_server: LocalS3Server, prefix: str, anonymous: dict
) -> None:
    url = f"s3://{GALLERY}/{prefix}/missing.parquet"
    with pytest.raises(SourceError, match=rf"not found: '{url}'"):
        scan_profiles(url, storage_options=anonymous)
    with pytest.raises(SourceError, match="no files match"):
        scan_profiles(f"s3://{GALLERY}/{prefix}/*/*.parquet", storage_options=anonymous)
    other = "s3://no-such-bucket-here/p.parquet"
    with pytest.raises(SourceError, match=rf"not found: '{other}'"):
        scan_profiles(other, storage_options=s3_server.storage_options())


def test_ten_of_three_thousand_columns_reads_about_their_bytes(
    s3_server: LocalS3Server, prefix: str, anonymous: dict
) -> None:
    frame = wide_plate("BR4", n_wells=8, cells_per_well=50, n_features=3000, seed=4)
    data = parquet_bytes(frame, row_group_size=100)
    key = f"/{GALLERY}/{prefix}/wide.parquet"
    s3_server.put(GALLERY, key[len(GALLERY) + 2 :], data, public=True)
    wanted = ["Metadata_Well", *[f"Cells_F{j:04d}" for j in range(9)]]
    meta = pq.ParquetFile(io.BytesIO(data)).metadata
    column_bytes = sum(
        meta.row_group(g).column(c).total_compressed_size
        for g in range(meta.num_row_groups)
        for c in range(meta.num_columns)
        if meta.row_group(g).column(c).path_in_schema in wanted
    )
    footer = meta.serialized_size + 8

    s3_server.reset_log()
    got = scan_profiles(f"s3:/{key}", storage_options=anonymous).select(wanted).collect()
    served = s3_server.bytes_served(key)
    assert got.equals(frame.select(wanted))
    # what was read: the footer (its 3,002-column schema; Polars first fetches the
    # last 256 KiB) plus the 10 columns' chunks, not the 3,000 feature columns
    assert served <= footer + 256 * 1024 + 1.1 * column_bytes, (served, footer, column_bytes)
    assert served < 0.15 * len(data)
    assert all(r.range for r in s3_server.requests if r.method == "GET" and r.path == key)

    # predicate pushdown: row-group statistics skip the groups of other wells
    s3_server.reset_log()
    one_well = (
        scan_profiles(f"s3:/{key}", storage_options=anonymous)
        .filter(pl.col("Metadata_Well") == "A01")
        .select(wanted)
        .collect()
    )
    filtered = s3_server.bytes_served(key)
    assert one_well.equals(frame.filter(pl.col("Metadata_Well") == "A01").select(wanted))
    metadata_reads = footer + 256 * 1024
    assert filtered - metadata_reads < 0.5 * (served - metadata_reads), (filtered, served)


def test_glob_over_all_plates_of_a_batch(
    s3_server: LocalS3Server, prefix: str, anonymous: dict
) -> None:
    plates = {
        f"BR{i}": wide_plate(f"BR{i}", n_wells=2, cells_per_well=3, n_features=4, seed=i)
        for i in range(3)
    }
    for plate, frame in plates.items():
        key = f"{prefix}/workspace/profiles/Batch1/{plate}/{plate}.parquet"
        s3_server.put(GALLERY, key, parquet_bytes(frame), public=True)
    s3_server.put(
        GALLERY, f"{prefix}/workspace/profiles/Batch1/notes.txt", b"not a plate", public=True
    )
    url = f"s3://{GALLERY}/{prefix}/workspace/profiles/Batch1/*/*.parquet"
    got = (
        scan_profiles(url, storage_options=anonymous)
        .group_by("Metadata_Plate")
        .len()
        .sort("Metadata_Plate")
        .collect()
    )
    assert got.rows() == [(p, f.height) for p, f in sorted(plates.items())]
    both = scan_profiles(
        [
            f"s3://{GALLERY}/{prefix}/workspace/profiles/Batch1/{p}/{p}.parquet"
            for p in ("BR0", "BR2")
        ],
        storage_options=anonymous,
    ).collect()
    assert both.equals(pl.concat([plates["BR0"], plates["BR2"]]))


def test_partitioned_folder(s3_server: LocalS3Server, prefix: str, anonymous: dict) -> None:
    frame = wide_plate("X", n_wells=2, cells_per_well=2, n_features=2).drop("Metadata_Plate")
    for plate in ("P1", "P2"):
        s3_server.put(
            GALLERY,
            f"{prefix}/ds/Metadata_Plate={plate}/part-0.parquet",
            parquet_bytes(frame),
            public=True,
        )
    for url in (f"s3://{GALLERY}/{prefix}/ds", f"s3://{GALLERY}/{prefix}/ds/"):
        got = scan_profiles(url, storage_options=anonymous).collect()
        assert got.height == 2 * frame.height
        assert got["Metadata_Plate"].dtype == pl.String
        assert sorted(set(got["Metadata_Plate"])) == ["P1", "P2"]


def test_gzipped_csv_and_platemap_text(
    s3_server: LocalS3Server, prefix: str, anonymous: dict
) -> None:
    text = "Metadata_Plate,Metadata_Well,Cells_A\n0012,A01,1.5\n0012,A02,2.5\n"
    s3_server.put(
        GALLERY, f"{prefix}/wells.csv.gz", gzip.compress(text.encode(), mtime=0), public=True
    )
    got = scan_profiles(
        f"s3://{GALLERY}/{prefix}/wells.csv.gz", storage_options=anonymous
    ).collect()
    assert got.rows() == [("0012", "A01", 1.5), ("0012", "A02", 2.5)]
    s3_server.put(
        GALLERY, f"{prefix}/platemap.txt", b"plate_map_name\twell_position\nP\tA01\n", public=True
    )
    plate_map = read_text_table(
        f"s3://{GALLERY}/{prefix}/platemap.txt", storage_options=anonymous
    ).collect()
    assert plate_map.rows() == [("P", "A01")]


def test_transient_errors_are_retried(
    s3_server: LocalS3Server, prefix: str, anonymous: dict
) -> None:
    frame = wide_plate("BR5", n_features=3, seed=5)
    key = f"{prefix}/flaky.parquet"
    path = f"/{GALLERY}/{key}"
    s3_server.put(GALLERY, key, parquet_bytes(frame), public=True)
    options = {**anonymous, "retry_init_backoff_ms": 20}
    s3_server.reset_log()
    s3_server.fail_next(path, times=2)  # the existence check (HEAD, through botocore)
    lazy = scan_profiles(f"s3://{GALLERY}/{key}", storage_options=options)
    s3_server.fail_next(path, times=3, status=500)  # Polars' ranged GETs
    got = lazy.collect()
    assert got.equals(frame)
    requests = [r for r in s3_server.requests if r.path == path]
    assert [r.status for r in requests if r.method == "HEAD"] == [503, 503, 200]
    gets = [r.status for r in requests if r.method == "GET"]
    assert gets[:3] == [500, 500, 500]
    assert set(gets[3:]) == {206}


def test_plain_http_urls(s3_server: LocalS3Server, prefix: str) -> None:
    """``https://bucket.s3.amazonaws.com/key``-style URLs: here the server's path-style URL."""
    frame = wide_plate("BR6", n_features=2, seed=6)
    s3_server.put(GALLERY, f"{prefix}/p.parquet", parquet_bytes(frame), public=True)
    url = f"{s3_server.endpoint}/{GALLERY}/{prefix}/p.parquet"
    assert scan_profiles(url).collect().equals(frame)
    missing = f"{s3_server.endpoint}/{GALLERY}/{prefix}/none.parquet"
    with pytest.raises(SourceError, match=rf"not found: '{missing}'"):
        scan_profiles(missing)


def test_a_list_of_plates_is_checked_concurrently(
    s3_server: LocalS3Server, prefix: str, anonymous: dict
) -> None:
    frame = wide_plate("P", n_wells=1, cells_per_well=1, n_features=1)
    urls = []
    for i in range(24):
        s3_server.put(GALLERY, f"{prefix}/P{i}.parquet", parquet_bytes(frame), public=True)
        urls.append(f"s3://{GALLERY}/{prefix}/P{i}.parquet")
    assert remote.check_sources(urls, anonymous) == urls
    got = scan_profiles(urls, storage_options=anonymous).select(pl.len()).collect().item()
    assert got == 24
    missing = f"s3://{GALLERY}/{prefix}/P99.parquet"
    with pytest.raises(SourceError, match=rf"not found: '{missing}'"):
        scan_profiles([*urls[:5], missing, *urls[5:]], storage_options=anonymous)

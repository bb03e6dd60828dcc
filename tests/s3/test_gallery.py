"""io.gallery on a copy of the synthetic gallery dataset served by the local S3 server."""

from __future__ import annotations

import gzip
from pathlib import Path

import polars as pl
import pytest
from _s3_helpers import GALLERY, parquet_bytes, wide_plate

from cytoplan.exceptions import SourceError
from cytoplan.io.gallery import Gallery
from cytoplan.testing.s3 import LocalS3Server

WORKSPACE = Path(__file__).resolve().parents[2] / "data_fixtures/cpg0000-synthetic/workspace"
BATCH = "2024_01_01_Batch1"
PLATES = ["BR00000001", "BR00000002"]


@pytest.fixture(scope="module")
def gallery(s3_server: LocalS3Server) -> Gallery:
    project = "cpg0000-synthetic-test"
    root = f"{project}/broad/workspace"
    for sub in ("backend", "metadata"):
        for path in sorted((WORKSPACE / sub).rglob("*")):
            if path.is_file():
                key = f"{root}/{path.relative_to(WORKSPACE).as_posix()}"
                s3_server.put(GALLERY, key, path.read_bytes(), public=True)
    for i, plate in enumerate(PLATES):
        frame = wide_plate(plate, n_wells=4, cells_per_well=2, n_features=5, seed=i)
        s3_server.put(GALLERY, f"{root}/profiles/{BATCH}/{plate}/{plate}.parquet",
                      parquet_bytes(frame), public=True)  # fmt: skip
        load_data = f"Metadata_Plate,Metadata_Well,URL_DNA\n{plate},A01,s3://x/{plate}.tif\n"
        s3_server.put(GALLERY, f"{root}/load_data_csv/{BATCH}/{plate}/load_data.csv.gz",
                      gzip.compress(load_data.encode(), mtime=0), public=True)  # fmt: skip
    return Gallery(project, "broad", storage_options={"endpoint_url": s3_server.endpoint})


def test_lists_batches_and_plates(gallery: Gallery) -> None:
    assert gallery.batches() == [BATCH]
    assert gallery.batches("backend") == [BATCH]
    assert gallery.batches("platemaps") == [BATCH]
    assert gallery.plates(BATCH) == PLATES
    assert gallery.plates(BATCH, "backend") == PLATES
    assert gallery.plates(BATCH, "platemaps") == PLATES
    with pytest.raises(SourceError, match=r"not found: .*1999_01_01_NoBatch"):
        gallery.plates("1999_01_01_NoBatch")


def test_profiles_of_one_plate_and_of_a_whole_batch(gallery: Gallery) -> None:
    one = gallery.scan_profiles(BATCH, PLATES[0]).collect()
    assert one.equals(wide_plate(PLATES[0], n_wells=4, cells_per_well=2, n_features=5, seed=0))
    every = gallery.scan_profiles(BATCH).collect()
    assert every.group_by("Metadata_Plate").len().sort("Metadata_Plate").rows() == [
        (PLATES[0], 8),
        (PLATES[1], 8),
    ]
    listed = gallery.scan_profiles(BATCH, PLATES[::-1]).collect()
    assert listed["Metadata_Plate"].unique(maintain_order=True).to_list() == PLATES[::-1]


def test_platemap_load_data_and_sqlite(
    gallery: Gallery, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    local = pl.read_csv(
        WORKSPACE / f"metadata/platemaps/{BATCH}/platemap/platemap_1.txt",
        separator="\t", infer_schema=False,
    )  # fmt: skip
    assert gallery.platemap(BATCH, PLATES[1]).collect().equals(local)
    with pytest.raises(SourceError, match="0 entries"):
        gallery.platemap(BATCH, "BR99999999")
    load_data = gallery.load_data(BATCH, PLATES[0]).collect()
    assert load_data.rows() == [(PLATES[0], "A01", f"s3://x/{PLATES[0]}.tif")]
    with pytest.raises(SourceError, match="no load_data CSV"):
        gallery.load_data(BATCH, PLATES[0], illum=True)

    from cytoplan.io.sqlite import scan_cellprofiler_sqlite

    monkeypatch.setenv("CYTOPLAN_TEMP_DIR", str(tmp_path))
    url = gallery.sqlite_path(BATCH, PLATES[0])
    remote_cells = scan_cellprofiler_sqlite(
        url, storage_options=dict(gallery.storage_options or {})
    )
    local_cells = scan_cellprofiler_sqlite(
        WORKSPACE / f"backend/{BATCH}/{PLATES[0]}/{PLATES[0]}.sqlite"
    )
    assert remote_cells.collect().equals(local_cells.collect())


def test_sqlite_tables_of_a_plate(gallery: Gallery) -> None:
    pytest.importorskip("apsw")
    tables = {t.name: t for t in gallery.sqlite_tables(BATCH, PLATES[0])}
    assert sorted(tables) == ["Cells", "Cytoplasm", "Image", "Nuclei"]
    assert "Metadata_Well" in tables["Image"].columns
    assert tables["Cells"].max_rowid == tables["Nuclei"].max_rowid > 0

"""write_profiles: formats, float_format == Python's %, atomic and deterministic writes."""

from __future__ import annotations

import gzip
import math
import os
import struct
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from cytoplan import write_profiles
from cytoplan.exceptions import CytoplanError, SchemaError
from cytoplan.io.sinks import format_floats, infer_sink_format, sink_row_group_size

FRAME = pl.DataFrame(
    {
        "Metadata_Plate": ["0012", "0012", "0013"],
        "Metadata_Well": ["A01", "A02", "A01"],
        "Cells_A": [0.1 + 0.2, None, float("nan")],
        "Nuclei_B": [1234567.891, -0.000123456, 2.5],
        "Count": [1, 2, 3],
    }
)


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.parametrize("name", ["p.parquet", "p.csv", "p.csv.gz", "p.tsv", "p.tsv.gz"])
def test_round_trip(tmp_path: Path, name: str) -> None:
    dest = tmp_path / name
    assert write_profiles(FRAME.lazy(), dest) == str(dest)
    fmt, gz = infer_sink_format(dest)
    if fmt == "parquet":
        back = pl.read_parquet(dest)
        assert_frame_equal(back, FRAME)
        return
    raw = dest.read_bytes()
    text = (gzip.decompress(raw) if gz else raw).decode()
    sep = "\t" if fmt == "tsv" else ","
    lines = text.splitlines()
    assert lines[0] == sep.join(FRAME.columns)
    assert lines[1].split(sep)[:3] == ["0012", "A01", "0.30000000000000004"]
    assert lines[3].split(sep)[2] == ""  # NaN written as an empty field, like pandas
    if gz:
        assert raw[4:8] == b"\x00\x00\x00\x00"  # gzip mtime 0


def test_float_format_in_csv(tmp_path: Path) -> None:
    dest = tmp_path / "p.csv"
    write_profiles(FRAME, dest, float_format="%.5g")
    rows = dest.read_text().splitlines()
    assert rows[1] == "0012,A01,0.3,1.2346e+06,1"
    assert rows[2] == "0012,A02,,-0.00012346,2"
    assert rows[3] == "0013,A01,,2.5,3"


def test_unknown_format_and_bad_float_format(tmp_path: Path) -> None:
    with pytest.raises(CytoplanError, match="cannot tell the output format"):
        write_profiles(FRAME, tmp_path / "p.xlsx")
    with pytest.raises(CytoplanError, match="float_format"):
        write_profiles(FRAME, tmp_path / "p.csv", float_format="abc")
    with pytest.raises(CytoplanError, match="CSV/TSV output only"):
        write_profiles(FRAME, tmp_path / "p.parquet", float_format="%.5g")
    assert _files(tmp_path) == []


def test_failed_write_leaves_nothing_and_keeps_a_good_file(tmp_path: Path) -> None:
    dest = tmp_path / "p.parquet"
    write_profiles(FRAME, dest)
    good = dest.read_bytes()
    failing = FRAME.lazy().with_columns(pl.col("Metadata_Plate").cast(pl.Int8, strict=True))
    # Polars may create the file on a background thread after reporting the
    # error: repeated so that such a late stray file is caught.
    for target in [dest, tmp_path / "new.csv.gz"] * 20:
        with pytest.raises(SchemaError, match="writing"):
            write_profiles(
                failing.with_columns(pl.col("Metadata_Well").str.to_integer(strict=True)), target
            )
    assert dest.read_bytes() == good
    assert _files(tmp_path) == ["p.parquet"]


def test_streaming_lazyframe(tmp_path: Path) -> None:
    big = pl.LazyFrame({"i": range(200_000)}).with_columns(
        (pl.col("i") * 0.001).alias("Cells_X"), pl.col("i").cast(pl.String).alias("Metadata_I")
    )
    dest = tmp_path / "big.csv.gz"
    write_profiles(big, dest, float_format="%.3f")
    back = pl.read_csv(dest, schema_overrides={"Cells_X": pl.String})
    assert back.height == 200_000
    assert back["Cells_X"][1234] == "%.3f" % (1234 * 0.001)


@pytest.mark.parametrize(
    ("columns", "rows"), [(3010, 8192), (6000, 4096), (1000, 24_576), (20, 65_536), (10**6, 1024)]
)
def test_row_groups_hold_about_192_mib(columns: int, rows: int) -> None:
    assert sink_row_group_size(columns) == rows


def test_parquet_row_groups_follow_the_width_unless_given(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    frame = pl.DataFrame({f"Cells_{i}": pl.arange(0, 70_000, eager=True) * 0.5 for i in range(20)})
    default = write_profiles(frame.lazy(), tmp_path / "default.parquet")
    given_size = write_profiles(frame, tmp_path / "given.parquet", row_group_size=30_000)
    groups = pq.ParquetFile(default).metadata
    assert [groups.row_group(i).num_rows for i in range(groups.num_row_groups)] == [65_536, 4_464]
    groups = pq.ParquetFile(given_size).metadata
    assert [groups.row_group(i).num_rows for i in range(groups.num_row_groups)] == [
        30_000,
        30_000,
        10_000,
    ]
    assert_frame_equal(pl.read_parquet(default), frame)


def test_deterministic_across_thread_counts(tmp_path: Path) -> None:
    frame = pl.DataFrame(
        {
            "Metadata_W": [f"W{i % 97}" for i in range(50_000)],
            "Cells_X": [i / 7 for i in range(50_000)],
        }
    )
    source = tmp_path / "in.parquet"
    frame.write_parquet(source)
    code = (
        "import sys, polars as pl; from cytoplan import write_profiles; "
        "lf = pl.scan_parquet(sys.argv[1]); "
        "write_profiles(lf, sys.argv[2], row_group_size=8192); "
        "write_profiles(lf, sys.argv[3], float_format='%.5g')"
    )
    outputs = []
    for threads in ("1", "2"):
        pq_out, csv_out = tmp_path / f"o{threads}.parquet", tmp_path / f"o{threads}.csv.gz"
        env = dict(os.environ, POLARS_MAX_THREADS=threads)
        args = [sys.executable, "-c", code, str(source), str(pq_out), str(csv_out)]
        subprocess.run(args, check=True, env=env)
        outputs.append((pq_out.read_bytes(), csv_out.read_bytes()))
    assert outputs[0] == outputs[1]


# ----------------------------------------------------------------------------- float_format

FORMATS = ["%.5g", "%g", "%.1g", "%.12G", "%.3e", "%.0E", "%.2f", "%.0f", "%f", "%+.3g", "%10.4f"]
EDGES = [
    0.0, -0.0, 1.0, -1.0, 0.5, 1.5, 2.5, 9.99995, 99999.5, 0.000125, 1e-5, 0.0001, 123456.5,
    1e16, 1e22, 1e-320, 5e-324, 1.7976931348623157e308, math.inf, -math.inf, math.nan, 2.675,
]  # fmt: skip


@pytest.mark.parametrize("fmt", FORMATS)
def test_float_format_edges(fmt: str) -> None:
    got = format_floats(pl.Series(EDGES), fmt).to_list()
    assert got == [fmt % v for v in EDGES]


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=1, max_size=60),
    st.sampled_from(FORMATS),
)
def test_float_format_equals_python(values: list[float], fmt: str) -> None:
    assert format_floats(pl.Series(values, dtype=pl.Float64), fmt).to_list() == [
        fmt % v for v in values
    ]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=2**64 - 1), min_size=1, max_size=60))
def test_float_format_on_random_bit_patterns(bits: list[int]) -> None:
    values = [struct.unpack("<d", struct.pack("<Q", b))[0] for b in bits]
    for fmt in ("%.5g", "%.4e", "%.3f"):
        got = format_floats(pl.Series(values, dtype=pl.Float64), fmt).to_list()
        assert got == [fmt % v for v in values]


def test_float_format_keeps_nulls() -> None:
    assert format_floats(pl.Series([None, 1.0]), "%.2f").to_list() == [None, "1.00"]


def test_a_float_format_that_cannot_write_a_value_is_a_parameter_error(tmp_path: Path) -> None:
    from cytoplan.exceptions import ParameterError

    frame = pl.DataFrame({"Metadata_Well": ["A01", "A02"], "Cells_a": [float("inf"), 1.0]})
    with pytest.raises(
        ParameterError, match="float_format '%d' cannot write the value inf of column 'Cells_a'"
    ):
        write_profiles(frame, tmp_path / "wells.csv", float_format="%d")
    assert list(tmp_path.iterdir()) == []

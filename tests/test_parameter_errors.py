"""A bad argument raises ``ParameterError`` (a ``CytoplanError`` and a ``ValueError``).

docs/api.md promises it for every layer: the statistics, the writers, the settings
and the operations. Each case names the parameter's bad value in its message.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest

from cytoplan.config import parse_bytes
from cytoplan.exceptions import CytoplanError, ParameterError, SchemaError
from cytoplan.io.gct import write_gct
from cytoplan.io.sinks import write_profiles
from cytoplan.ops.aggregate import aggregate
from cytoplan.stats.correlation import correlation_matrix
from cytoplan.stats.holistic import grouped_statistics
from cytoplan.stats.moments import grouped_moments

FRAME = pl.DataFrame(
    {
        "Metadata_Plate": ["P1", "P1", "P1", "P1"],
        "Metadata_Well": ["A01", "A01", "A02", "A02"],
        "Metadata_Site": [1, 2, 1, 2],
        "Cells_a": [1.0, 2.0, 3.0, 5.0],
        "Cells_b": [0.5, 0.25, 4.0, 1.0],
    }
)


def _folder(path: Path) -> Path:
    path.mkdir(exist_ok=True)
    return path


def _cases(tmp: Path) -> dict[str, tuple[Callable[[], object], str]]:
    lf = FRAME.lazy()
    return {
        "unknown statistic": (
            lambda: grouped_statistics(lf, ["Cells_a"], statistics=("mode",)),
            "'mode'",
        ),
        "quantile out of range": (
            lambda: grouped_statistics(lf, ["Cells_a"], statistics=(1.5,)),
            "1.5",
        ),
        "no statistics": (lambda: grouped_statistics(lf, ["Cells_a"], statistics=()), "empty"),
        "repeated columns": (
            lambda: grouped_statistics(lf, ["Cells_a", "Cells_a"]),
            "repeated",
        ),
        "key also a column": (
            lambda: grouped_statistics(lf, ["Cells_a"], by=["Cells_a"]),
            "'Cells_a'",
        ),
        "moments of repeated columns": (
            lambda: grouped_moments(lf, ["Cells_b", "Cells_a", "Cells_b"]),
            "repeated (['Cells_b'])",
        ),
        "moments by a key that is also a column": (
            lambda: grouped_moments(lf, ["Cells_a"], by=["Cells_a"]),
            "'Cells_a'",
        ),
        "unknown correlation method": (
            lambda: correlation_matrix(lf, ["Cells_a", "Cells_b"], method="cosine"),  # type: ignore[arg-type]
            "'cosine'",
        ),
        "memory size": (lambda: parse_bytes("lots"), "'lots'"),
        "negative memory size": (lambda: parse_bytes(-1), "-1"),
        "field of view not in the data": (
            lambda: aggregate(lf, fields_of_view=[1, 7]),
            "['7']",
        ),
        "output format": (
            lambda: write_profiles(lf, tmp / "out.parquet", format="xlsx"),  # type: ignore[arg-type]
            "'xlsx'",
        ),
        "unknown suffix": (lambda: write_profiles(lf, tmp / "out.xlsx"), "out.xlsx"),
        "float_format on Parquet": (
            lambda: write_profiles(lf, tmp / "out.parquet", float_format="%.5g"),
            "float_format",
        ),
        "float_format": (
            lambda: write_profiles(lf, tmp / "out.csv", float_format="five digits"),
            "'five digits'",
        ),
        "CSV compression": (
            lambda: write_profiles(lf, tmp / "out.csv", compression="zstd"),
            "'zstd'",
        ),
        "output is a folder": (lambda: write_profiles(lf, _folder(tmp / "dir.parquet")), "folder"),
        "output folder missing": (
            lambda: write_profiles(lf, tmp / "absent" / "out.parquet"),
            "does not exist",
        ),
        "GCT version": (lambda: write_gct(FRAME, tmp / "out.gct", version="#1.2"), "'#1.2'"),
    }


@pytest.mark.parametrize("case", sorted(_cases(Path()).keys()))
def test_bad_argument_is_a_parameter_error(case: str, tmp_path: Path) -> None:
    call, named = _cases(tmp_path)[case]
    with pytest.raises(ParameterError) as caught:
        call()
    assert isinstance(caught.value, ValueError)
    assert isinstance(caught.value, CytoplanError)
    assert named in str(caught.value)
    assert not list(tmp_path.rglob("out.*")), "a failed write left a file behind"


def test_feature_named_like_a_statistics_column_is_a_schema_error() -> None:
    from cytoplan.ops.spherize import Spherize

    frame = pl.DataFrame(
        {
            "Metadata_Plate": ["P1"] * 6,
            "scale": [1.0, 2.0, 4.0, 3.0, 5.0, 9.0],
            "Cells_b": [0.5, 2.5, 1.0, 4.5, 3.0, 6.0],
        }
    )
    with pytest.raises(SchemaError, match=r"\['scale'\] clash"):
        Spherize(features=["scale", "Cells_b"], method="ZCA").fit(frame.lazy())

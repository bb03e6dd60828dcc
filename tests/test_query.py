"""Pandas-style ``samples`` query strings select the same rows as pandas' DataFrame.query."""

from __future__ import annotations

import polars as pl
import pytest

from cytoplan import feature_select, normalize
from cytoplan.exceptions import ColumnNotFoundError
from cytoplan.query import QueryError, as_predicate, check_predicate, columns_in, parse_query

FRAME = pl.DataFrame(
    {
        "Metadata_control_type": ["negcon", "trt", None, "negcon", "poscon"],
        "Metadata_Object_Count": [5, 1, 9, 2, 7],
        "Metadata_dose": [0.0, 1.5, 3.0, None, 10.0],
        "Metadata_odd name": ["a", "b", "c", "d", "e"],
        "Metadata_conc": [1.0, float("nan"), 2.0, float("nan"), None],  # NaN is missing
    }
)

QUERIES = [
    "Metadata_control_type == 'negcon'",
    "Metadata_control_type != 'negcon'",
    "Metadata_control_type == 'negcon' & Metadata_Object_Count >= 2",
    "Metadata_control_type == 'negcon' and Metadata_Object_Count > 2",
    "(Metadata_control_type == 'trt') | (Metadata_Object_Count > 6)",
    "Metadata_control_type in ['negcon', 'poscon']",
    "Metadata_control_type not in ('negcon',)",
    "not Metadata_control_type == 'trt'",
    "~(Metadata_control_type == 'trt')",
    "1 < Metadata_Object_Count <= 7",
    "Metadata_dose >= 1.5",
    "Metadata_dose < 3",
    "`Metadata_odd name` == 'c'",
    "Metadata_Object_Count == -1 or Metadata_Object_Count == 9",
    "Metadata_conc > 0",
    "Metadata_conc != 1",
    "not Metadata_conc > 1",
    "Metadata_conc == Metadata_conc",
    "Metadata_conc != Metadata_conc",
    "Metadata_conc <= Metadata_dose",
    "Metadata_conc in [1, 2]",
    "Metadata_conc not in [1]",
    # pandas reads == / != against a list as in / not in
    "Metadata_Object_Count == [5, 9]",
    "Metadata_Object_Count != [5, 9]",
    "['negcon', 'trt'] == Metadata_control_type",
    # backticks inside a string literal are text, not a quoted name
    "`Metadata_odd name` != '`a`'",
    # ~ binds tighter than a comparison: the bitwise inverse of an integer column
    "~Metadata_Object_Count == -6",
    "~(Metadata_Object_Count > 2) & Metadata_dose > 1",
]


@pytest.mark.parametrize("query", QUERIES)
def test_selects_the_rows_pandas_selects(query: str) -> None:
    expected = FRAME.to_pandas().query(query)["Metadata_odd name"].tolist()
    got = FRAME.filter(as_predicate(query))["Metadata_odd name"].to_list()
    assert got == expected


def test_numbers_compare_with_text_metadata() -> None:
    as_text = FRAME.with_columns(pl.col("Metadata_Object_Count").cast(pl.String))
    got = as_text.filter(as_predicate("Metadata_Object_Count >= 5"))["Metadata_odd name"]
    assert got.to_list() == ["a", "c", "e"]


def test_all_and_none_mean_every_row() -> None:
    assert as_predicate("all") is None
    assert as_predicate(None) is None
    expr = pl.col("Metadata_Object_Count") > 3
    assert as_predicate(expr) is expr


def test_columns_in_lists_names_in_order() -> None:
    query = "`Metadata_odd name` == 'a' or Metadata_dose > 1 and Metadata_dose < 5"
    assert columns_in(query) == ["Metadata_odd name", "Metadata_dose"]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("len(Metadata_dose) > 1", "unsupported syntax"),
        ("Metadata_dose + 1 > 2", "unsupported syntax"),
        ("@threshold < Metadata_dose", "cannot parse"),
        ("Metadata_dose >", "cannot parse"),
        ("Metadata_dose in Metadata_Object_Count", "unsupported syntax"),
        ("1 == 1", "is a constant"),
        ("'a' != 'b'", "is a constant"),
    ],
)
def test_unsupported_syntax_is_refused_with_the_offending_part(query: str, message: str) -> None:
    with pytest.raises(QueryError, match=message):
        as_predicate(query)


def test_non_string_samples_are_refused() -> None:
    with pytest.raises(QueryError, match="samples must be"):
        as_predicate(3)  # type: ignore[arg-type]


#: Metadata as cytoplan reads it (text) beside what pandas reads from the same CSV
TEXT = pl.DataFrame(
    {
        "Metadata_Plate": ["BR1", "BR2", None, "BR1"],
        "Metadata_Object_Count": ["0", "16", "17", None],
        "Metadata_flag": ["True", "False", None, "True"],
    }
)
AS_PANDAS_READS = TEXT.with_columns(
    pl.col("Metadata_Object_Count").cast(pl.Float64),
    pl.col("Metadata_flag").replace_strict({"True": True, "False": False}, default=None),
)


@pytest.mark.parametrize(
    "query",
    [
        "Metadata_Object_Count in [0]",
        "Metadata_Object_Count in [16, 17.0]",
        "Metadata_Object_Count not in [16]",
        "Metadata_Plate != 0",
        "Metadata_Plate == 0",
        "Metadata_flag == True",
        "Metadata_flag != True",
        "Metadata_flag == False",
        "Metadata_Plate in ['BR1', None]",
        "Metadata_Plate not in ['BR1', None]",
        "Metadata_Plate in []",
    ],
)
def test_text_metadata_selects_what_pandas_selects_on_its_own_reading(query: str) -> None:
    expected = AS_PANDAS_READS.with_row_index().to_pandas().query(query)["index"].tolist()
    got = TEXT.with_row_index().filter(as_predicate(query))["index"].to_list()
    assert got == expected


def test_ordering_text_against_a_number_fails_when_read() -> None:
    with pytest.raises(pl.exceptions.InvalidOperationError, match="conversion from `str`"):
        TEXT.filter(as_predicate("Metadata_Plate > 3"))


def test_a_backticked_literal_matches_its_text() -> None:
    frame = pl.DataFrame({"Metadata_s": ["`a`", "b"]})
    assert frame.filter(as_predicate("Metadata_s == '`a`'"))["Metadata_s"].to_list() == ["`a`"]


SCHEMA = pl.Schema({"Metadata_n": pl.Int64, "Metadata_Well": pl.String, "Metadata_d": pl.Date})


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("Metadata_Well == Metadata_n", "cannot compare string with numeric type"),
        ("Metadata_n", "filter predicate must be of type `Boolean`"),
        ("Metadata_d > '2020-06-01'", "cannot compare 'date/datetime/time' to a string"),
    ],
)
def test_a_query_the_table_cannot_answer_is_a_query_error_before_any_read(
    query: str, reason: str
) -> None:
    with pytest.raises(QueryError, match=f"query .* cannot be applied to this table: {reason}"):
        check_predicate(parse_query(query), SCHEMA, query)
    # and so through the operations that take a reference query
    table = pl.LazyFrame(
        {"Metadata_n": [1, 2], "Metadata_Well": ["A", "B"], "Cells_x": [1.0, 2.0]}
    ).with_columns(Metadata_d=pl.date(2020, 1, 1))
    with pytest.raises(QueryError, match="cannot be applied to this table"):
        normalize(table, reference=query)
    with pytest.raises(QueryError, match="cannot be applied to this table"):
        feature_select(table, operations="variance_threshold", reference=query)


def test_feature_select_names_an_unknown_query_column_once() -> None:
    table = pl.LazyFrame({"Metadata_Well": ["A", "B"], "Cells_x": [1.0, 2.0]})
    with pytest.raises(ColumnNotFoundError, match="not found: 'Metadata_Plate'; available"):
        feature_select(table, reference="Metadata_Plate == 'P1' or Metadata_Plate == 'P2'")
    with pytest.raises(ColumnNotFoundError, match="not found: 'Metadata_Plate'; available"):
        normalize(table, reference="Metadata_Plate == 'P1' or Metadata_Plate == 'P2'")


#: columns whose types pandas compares in its own way (schema known)
TYPED = pl.DataFrame(
    {
        "Metadata_id": [2**53 + 1, 2**53, 7, 8],
        "Metadata_f32": pl.Series([0.1, 0.2, 0.3, float("nan")], dtype=pl.Float32),
        "Metadata_f": [1.0, float("nan"), None, 3.0],
        "Metadata_n": [1, 2, 3, 4],
        "Metadata_a": ["nan", "x", "NaN", None],
        "Metadata_b": ["nan", "y", "NaN", None],
    }
)


@pytest.mark.parametrize(
    "query",
    [
        "Metadata_id == 9007199254740992",
        "Metadata_id != 9007199254740993",
        "Metadata_id in [9007199254740992, 7]",
        "Metadata_id > 9007199254740992",
        "9007199254740992 < Metadata_id",
        "Metadata_f32 == 0.1",
        "Metadata_f32 != 0.1",
        "Metadata_f32 > 0.1",
        "Metadata_f32 in [0.2, 0.3]",
        "Metadata_n == '1'",
        "Metadata_f == '1'",
        "Metadata_f != '1'",
        "Metadata_n != '1'",
        "Metadata_n in ['1', 2]",
        "Metadata_n not in ['1']",
        "Metadata_f in [None, 1]",
        "Metadata_f not in [None]",
        "Metadata_a == Metadata_b",
        "Metadata_a != Metadata_b",
    ],
)
def test_with_the_schema_columns_compare_as_pandas_compares_their_types(query: str) -> None:
    frame = TYPED.with_row_index("row")
    pandas = TYPED.to_pandas()
    expected = pandas.query(query).index.tolist()
    assert frame.filter(as_predicate(query, TYPED.schema))["row"].to_list() == expected


def test_ordering_a_number_column_against_text_is_a_query_error() -> None:
    with pytest.raises(QueryError, match="orders a number column against text"):
        as_predicate("Metadata_n > '1'", TYPED.schema)

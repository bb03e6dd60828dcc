"""Write profile tables (Parquet, CSV, TSV; optionally gzipped) atomically and deterministically.

* **Atomic**: the file is written under a temporary name in the destination
  folder and renamed when complete (:mod:`cytoplan.io._atomic`); a failed write
  leaves nothing behind and never replaces a good file.
* **Deterministic**: the same table gives the same bytes whatever the thread
  count — columns in frame order, rows in frame order, gzip with mtime 0, no
  timestamps in Parquet metadata.
* **Streaming**: a LazyFrame is sunk with Polars' streaming engine
  (``sink_parquet`` / ``sink_csv``), so a level-2 table is never collected.
* **Bounded row groups**: Parquet row groups hold about 192 MiB of values
  (:func:`sink_row_group_size`: 8,192 rows at 3,000 features). Polars' own default
  made a 300,672 × 3,010 single-cell write peak at 4.0–5.0 GiB; 8,192-row groups
  1.7–1.8 GiB (4,096 rows: 1.9 GiB, 16,384: 1.95 GiB). ``collate``'s Parquet output
  uses the same size.
* ``float_format`` (CSV/TSV) is a printf-style format such as pycytominer's
  ``"%.5g"``; the text equals Python's ``"%.5g" % x`` for every value. The
  common forms (``%.Ng``, ``%.Ne``, ``%.Nf`` and their capitals) are computed
  with vectorised Polars operations; the rare values whose rounding the
  floating-point shortcut cannot decide (within ~1e-9 of a tie) and any other
  format (flags, widths) are formatted by Python itself.

Missing values (null, and NaN) are written as empty CSV fields, as pandas
writes them.

Examples
--------
>>> import tempfile, pathlib, polars as pl
>>> frame = pl.DataFrame({"Metadata_Well": ["A01", "A02"], "Cells_A": [0.000123456, 12345.678]})
>>> dest = pathlib.Path(tempfile.mkdtemp()) / "wells.csv.gz"
>>> _ = write_profiles(frame, dest, float_format="%.5g")
>>> import gzip; print(gzip.decompress(dest.read_bytes()).decode(), end="")
Metadata_Well,Cells_A
A01,0.00012346
A02,12346
>>> format_floats(pl.Series([1234567.0, 0.5, -0.0, float("inf")]), "%.3g").to_list()
['1.23e+06', '0.5', '-0', 'inf']
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Literal, cast

import polars as pl

from cytoplan.exceptions import ParameterError, SchemaError, first_paragraph, is_bad_value
from cytoplan.io._atomic import atomic_path, is_remote, require_writable
from cytoplan.io.remote import remote_error, storage_options_for

if TYPE_CHECKING:
    from cytoplan._typing import ProfileFormat, StorageOptions

__all__ = ["format_floats", "infer_sink_format", "sink_row_group_size", "write_profiles"]

ParquetCompression = Literal["zstd", "snappy", "gzip", "lz4", "brotli", "uncompressed"]
_FORMAT = re.compile(
    r"^%(?P<flags>[-+ #0]*)(?P<width>\d+)?(?:\.(?P<precision>\d*))?(?P<conv>[eEfFgG])$"
)
#: Relative error bound of the vectorised scaling, times a safety margin.
_REL_TOL = 2e-15
_MAX_EXACT = float(2**53)
_SINK_ROW_GROUP_BYTES = 192 << 20


def sink_row_group_size(n_columns: int, target_bytes: int = _SINK_ROW_GROUP_BYTES) -> int:
    """Rows per Parquet row group holding about ``target_bytes`` of float64 values (a
    multiple of 1,024 between 1,024 and 65,536): 192 MiB when writing profiles.

    >>> sink_row_group_size(3010), sink_row_group_size(6000), sink_row_group_size(20)
    (8192, 4096, 65536)
    """
    rows = target_bytes // (8 * max(1, n_columns))
    return int(min(65_536, max(1_024, rows // 1_024 * 1_024)))


# ----------------------------------------------------------------------------- float format


@dataclass(frozen=True)
class _Spec:
    text: str
    conv: str
    precision: int
    simple: bool


def _parse(fmt: str) -> _Spec:
    match = _FORMAT.match(fmt)
    if match is None:
        try:
            fmt % 1.5
        except (TypeError, ValueError) as err:
            msg = f"float_format {fmt!r} is not a printf-style float format such as '%.5g'"
            raise ParameterError(msg) from err
        return _Spec(fmt, "", 6, simple=False)
    precision = match.group("precision")
    digits = 6 if precision is None else int(precision or 0)
    conv = match.group("conv")
    simple = not match.group("flags") and match.group("width") is None
    if conv in "gG":
        digits = max(digits, 1)
        simple = simple and digits <= 15
    if conv in "eE":
        simple = simple and digits <= 14
    if conv in "fF":
        simple = simple and digits <= 15
    return _Spec(fmt, conv, digits, simple)


def _python(values: pl.Series, fmt: str) -> pl.Series:
    text = []
    for v in values.to_list():
        try:
            text.append(None if v is None else fmt % v)
        except (OverflowError, ValueError) as error:  # "%d" % inf
            msg = (
                f"float_format {fmt!r} cannot write the value {v!r} of column "
                f"{values.name!r}: {error}"
            )
            raise ParameterError(msg) from None
    return pl.Series(values.name, text, dtype=pl.String)


def _scale(a: pl.Expr, k: pl.Expr) -> pl.Expr:
    """a * 10**k for integer-valued k in [-340, 340] without overflow (two factors)."""
    half = (k / 2).floor()
    return (a * pl.lit(10.0).pow(half)) * pl.lit(10.0).pow(k - half)


def _round_significant(frame: pl.DataFrame, sig: int) -> pl.DataFrame:
    """Add ``digits`` (text of the ``sig`` rounded significant digits), ``exp`` and ``undecided``.

    Works on column ``a`` (|x|, finite and > 0; other rows hold 1.0). The scaled
    value is within a few ulps of the exact one, so the rounding is right unless
    its fraction lies within ``_REL_TOL`` of one half (``undecided``).
    """
    top = 10.0**sig
    frame = frame.with_columns(e0=pl.col("a").log10().floor())
    frame = frame.with_columns(s0=_scale(pl.col("a"), sig - 1 - pl.col("e0")))
    frame = frame.with_columns(
        e1=pl.when(pl.col("s0") >= top)
        .then(pl.col("e0") + 1)
        .when(pl.col("s0") < top / 10)
        .then(pl.col("e0") - 1)
        .otherwise(pl.col("e0"))
    )
    frame = frame.with_columns(s1=_scale(pl.col("a"), sig - 1 - pl.col("e1")))
    frame = frame.with_columns(
        r=(pl.col("s1") + 0.5).floor(),
        undecided=(pl.col("s1") - pl.col("s1").floor() - 0.5).abs() < top * _REL_TOL,
    )
    frame = frame.with_columns(over=pl.col("r") >= top)
    return frame.with_columns(
        digits=pl.when(pl.col("over"))
        .then(pl.col("r") / 10)
        .otherwise(pl.col("r"))
        .cast(pl.Int64)
        .cast(pl.String),
        exp=pl.when(pl.col("over")).then(pl.col("e1") + 1).otherwise(pl.col("e1")).cast(pl.Int64),
    )


def _exponent_text(letter: str) -> pl.Expr:
    """``e+05`` / ``e-123`` from column ``exp`` (a lookup: zfill/concat are slow here)."""
    table = {k: f"{letter}{'-' if k < 0 else '+'}{abs(k):02d}" for k in range(-400, 401)}
    return pl.col("exp").replace_strict(table, default=None, return_dtype=pl.String)


def _dot(text: pl.Expr) -> pl.Expr:
    """``"." + text``, or nothing when ``text`` is empty."""
    return pl.when(text == "").then(pl.lit("")).otherwise(pl.lit(".") + text)


def _body_g(frame: pl.DataFrame, p: int, letter: str) -> pl.DataFrame:
    frame = _round_significant(frame, p)
    digits, exp = pl.col("digits"), pl.col("exp")
    regular = pl.col("regular")
    is_sci = (exp < -4) | (exp >= p)
    flags = frame.select(
        sci=(regular & is_sci).any(),
        small=(regular & ~is_sci & (exp < 0)).any(),
    ).row(0, named=True)
    frame = frame.with_columns(stripped=digits.str.strip_chars_end("0"))
    stripped = pl.col("stripped")
    # only the notations that occur are built (every when/then branch is computed in full)
    body: pl.Expr = pl.concat_str(
        [
            digits.str.slice(0, (exp + 1).clip(0)),
            _dot(digits.str.slice((exp + 1).clip(0)).str.strip_chars_end("0")),
        ]
    )
    if flags["small"]:
        zeros = pl.lit("000").str.slice(0, (-exp - 1).clip(0, 3))
        small = pl.concat_str([pl.lit("0."), zeros, stripped])
        body = pl.when(exp < 0).then(small).otherwise(body)
    if flags["sci"]:
        sci = pl.concat_str(
            [stripped.str.slice(0, 1), _dot(stripped.str.slice(1)), _exponent_text(letter)]
        )
        body = pl.when(is_sci).then(sci).otherwise(body)
    return frame.with_columns(body=body)


def _body_e(frame: pl.DataFrame, p: int, letter: str) -> pl.DataFrame:
    frame = _round_significant(frame, p + 1)
    digits = pl.col("digits")
    mantissa = digits.str.slice(0, 1) + (pl.lit(".") + digits.str.slice(1) if p else pl.lit(""))
    return frame.with_columns(body=pl.concat_str([mantissa, _exponent_text(letter)]))


def _body_f(frame: pl.DataFrame, p: int) -> pl.DataFrame:
    frame = frame.with_columns(s1=pl.col("a") * 10.0**p)
    frame = frame.with_columns(
        undecided=((pl.col("s1") - pl.col("s1").floor() - 0.5).abs() < pl.col("s1") * _REL_TOL)
        | (pl.col("s1") >= _MAX_EXACT),
    )
    safe = pl.when(pl.col("s1") < _MAX_EXACT).then(pl.col("s1")).otherwise(0.0)
    frame = frame.with_columns(
        digits=(safe + 0.5).floor().cast(pl.Int64).cast(pl.String).str.zfill(p + 1)
    )
    digits = pl.col("digits")
    if not p:
        return frame.with_columns(body=digits)
    whole = digits.str.len_chars().cast(pl.Int64) - p
    return frame.with_columns(body=digits.str.slice(0, whole) + "." + digits.str.slice(-p))


def _vectorised(values: pl.Series, spec: _Spec) -> pl.Series:
    """Format with Polars string operations; undecided roundings go to Python."""
    upper = spec.conv.isupper()
    letter = "E" if upper else "e"
    p = spec.precision
    x = pl.col("x")
    frame = pl.DataFrame({"x": values}).with_columns(
        regular=(x.is_finite() & (x != 0)).fill_null(value=False),
        negative=pl.when(x == 0).then(1.0 / x < 0).otherwise(x < 0).fill_null(value=False),
    )
    frame = frame.with_columns(a=pl.when(pl.col("regular")).then(x.abs()).otherwise(1.0))
    if spec.conv in "gG":
        frame = _body_g(frame, p, letter)
        zero = "0"
    elif spec.conv in "eE":
        frame = _body_e(frame, p, letter)
        zero = ("0." + "0" * p if p else "0") + f"{letter}+00"
    else:
        frame = _body_f(frame, p)
        zero = "0." + "0" * p if p else "0"
    text = (
        pl.when(x.is_null())
        .then(pl.lit(None, dtype=pl.String))
        .when(x.is_nan())
        .then(pl.lit("NAN" if upper else "nan"))
        .when(x.is_infinite())
        .then(pl.lit("INF" if upper else "inf"))
        .when(x == 0)
        .then(pl.lit(zero))
        .otherwise(pl.col("body"))
    )
    signed = pl.when(pl.col("negative") & ~x.is_nan()).then("-" + text).otherwise(text)
    out = frame.select(
        signed.alias("text"), (pl.col("regular") & pl.col("undecided")).alias("undecided")
    )
    text_out = out.get_column("text")
    undecided = out.get_column("undecided")
    if undecided.any():
        idx = undecided.arg_true()
        text_out = text_out.scatter(idx, _python(values.gather(idx), spec.text))
    return text_out.alias(values.name)


def format_floats(values: pl.Series, fmt: str) -> pl.Series:
    """Format numbers as Python's ``fmt % x`` does (nulls stay null).

    Parameters
    ----------
    values : polars.Series
        Numbers (cast to Float64).
    fmt : str
        A printf-style float format: ``"%.5g"``, ``"%.3f"``, ``"%e"``, ``"%+10.4G"``...

    Returns
    -------
    polars.Series of String

    Examples
    --------
    >>> format_floats(pl.Series([0.1 + 0.2, 1e-7, 2.5, None]), "%.5g").to_list()
    ['0.3', '1e-07', '2.5', None]
    >>> format_floats(pl.Series([2.675, -0.001]), "%.2f").to_list()
    ['2.67', '-0.00']
    """
    spec = _parse(fmt)
    numbers = values.cast(pl.Float64)
    if not spec.simple:
        return _python(numbers, fmt)
    return _vectorised(numbers, spec)


# ----------------------------------------------------------------------------- sinks


def infer_sink_format(dest: str | Path) -> tuple[ProfileFormat, bool]:
    """``(format, gzipped)`` from a file name: ``.parquet``, ``.csv[.gz]``, ``.tsv[.gz]``.

    >>> infer_sink_format("wells.csv.gz"), infer_sink_format("sc.parquet")
    (('csv', True), ('parquet', False))
    """
    name = str(dest).lower().rstrip("/")
    gzipped = name.endswith(".gz")
    if gzipped:
        name = name[:-3]
    for suffix, fmt in ((".parquet", "parquet"), (".pq", "parquet"), (".csv", "csv")):
        if name.endswith(suffix):
            return fmt, gzipped  # type: ignore[return-value]
    if name.endswith((".tsv", ".txt")):
        return "tsv", gzipped
    msg = (
        f"cannot tell the output format of {str(dest)!r}; "
        "name it .parquet, .csv, .csv.gz, .tsv or .tsv.gz (or give its format)"
    )
    raise ParameterError(msg)


def check_destination(dest: str | Path) -> None:
    """Check an output name before any work: a known format and, for a local file,
    an existing folder (what :func:`write_profiles` would otherwise find at the end).

    >>> try:
    ...     check_destination("report.xlsx")
    ... except ValueError as error:
    ...     print(str(error)[:47])
    cannot tell the output format of 'report.xlsx';
    """
    infer_sink_format(dest)
    if not is_remote(dest):
        require_writable(dest)


def _text_columns(frame: pl.LazyFrame, float_format: str | None) -> pl.LazyFrame:
    schema = frame.collect_schema()
    floats = [name for name, dtype in schema.items() if dtype in (pl.Float64, pl.Float32)]
    if not floats:
        return frame
    cleaned = pl.col(floats).cast(pl.Float64).fill_nan(None)
    if float_format is None:
        return frame.with_columns(cleaned)
    _parse(float_format)
    formatted = cleaned.map_batches(
        partial(format_floats, fmt=float_format), return_dtype=pl.String, is_elementwise=True
    )
    return frame.with_columns(formatted)


def write_profiles(
    frame: pl.LazyFrame | pl.DataFrame,
    dest: str | Path,
    *,
    format: ProfileFormat | None = None,
    float_format: str | None = None,
    compression: str | None = None,
    storage_options: StorageOptions | None = None,
    row_group_size: int | None = None,
) -> str:
    """Write a profile table to Parquet, CSV or TSV, atomically and deterministically.

    Parameters
    ----------
    frame : polars.LazyFrame or polars.DataFrame
        A LazyFrame is streamed (never collected in full).
    dest : str or Path
        Output path; the format comes from the suffix unless ``format`` is
        given (``.parquet``; ``.csv``/``.tsv``, gzipped when ending in ``.gz``).
        A URL (``s3://...``) is written by Polars' object store (uploads are
        atomic there; no temporary name is used).
    format : {"parquet", "csv", "tsv"}, optional
    float_format : str, optional
        printf-style float format for CSV/TSV (``"%.5g"``); text equals Python's.
    compression : str, optional
        Parquet: ``"zstd"`` (default), ``"snappy"``, ``"lz4"``, ``"gzip"``,
        ``"uncompressed"``. CSV/TSV: ``"gzip"`` (default for ``.gz`` names) or
        ``"uncompressed"``.
    storage_options : dict, optional
        Object-store options for a URL ``dest``.
    row_group_size : int, optional
        Rows per Parquet row group (default :func:`sink_row_group_size` of the width).

    Returns
    -------
    str
        The path written.

    Raises
    ------
    CytoplanError
        Unknown format or bad ``float_format``; the destination folder does not exist.
    """
    lazy = frame.lazy() if isinstance(frame, pl.DataFrame) else frame
    if format:
        fmt, gzipped = format, str(dest).lower().endswith(".gz")
    else:
        fmt, gzipped = infer_sink_format(dest)
    if fmt not in ("parquet", "csv", "tsv"):
        msg = f"format must be 'parquet', 'csv' or 'tsv', got {fmt!r}"
        raise ParameterError(msg)
    if fmt == "parquet" and float_format is not None:
        msg = "float_format applies to CSV/TSV output only (Parquet stores binary floats)"
        raise ParameterError(msg)
    remote = is_remote(dest)
    target = str(dest)

    if fmt == "parquet" and row_group_size is None:
        row_group_size = sink_row_group_size(len(lazy.collect_schema()))

    def sink(path: str) -> None:
        options = storage_options_for(target, storage_options) if remote else None
        if fmt == "parquet":
            lazy.sink_parquet(
                path,
                compression=cast("ParquetCompression", compression or "zstd"),
                row_group_size=row_group_size,
                statistics=True,
                storage_options=options,
            )
            return
        codec = compression or ("gzip" if gzipped else "uncompressed")
        if codec not in ("gzip", "uncompressed"):
            msg = f"CSV/TSV compression must be 'gzip' or 'uncompressed', got {codec!r}"
            raise ParameterError(msg)
        _text_columns(lazy, float_format).sink_csv(
            path,
            separator="\t" if fmt == "tsv" else ",",
            compression=cast("Literal['gzip', 'uncompressed']", codec),
            check_extension=False,
            storage_options=options,
        )

    try:
        if remote:
            try:
                sink(target)  # object store: a multipart upload completed only at the end
            except OSError as err:
                raise remote_error(err, target, action="write") from err
            return target
        with atomic_path(target) as tmp:
            sink(str(tmp))
    except pl.exceptions.PolarsError as err:
        # a value of the input that cannot be read is the input's fault, not the write's
        msg = (
            first_paragraph(str(err)) if is_bad_value(err) else f"writing {target!r} failed: {err}"
        )
        raise SchemaError(msg) from err
    return str(Path(target))

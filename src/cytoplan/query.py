"""Row subsets: Polars expressions, or pandas-style query strings turned into them.

pycytominer selects the rows that statistics are fitted on (``samples=``) with
``DataFrame.query``. Profiling recipes use a small part of that grammar, and this
module accepts exactly that part, translated once into a Polars expression:

* comparisons ``==  !=  <  <=  >  >=``, chained (``1 < Metadata_x <= 3``);
* membership ``in`` / ``not in`` against a list or tuple of literals (``==`` / ``!=``
  against a list mean the same, as in pandas);
* ``and`` / ``or`` / ``not``, ``&`` / ``|`` (which bind like ``and`` / ``or``) and ``~``
  (negation, or the bitwise inverse of an integer column, as in pandas);
* column names, or any name in backticks (```Metadata_odd name```);
* string, number, ``True``/``False`` and ``None`` literals (``== None`` is ``is_null``).

A column compared with a number is read as a number (``Metadata_*`` columns are
text in cytoplan, so ``Metadata_Object_Count >= 10`` works on them too); text that
is not a number equals no number (``Metadata_Plate != 0`` keeps every plate), and
ordering it against one (``Metadata_Well > 3``) is an error, as in pandas. ``True``
and ``False`` match boolean columns and their text spellings (``"True"``, ``"false"``).
Missing values (null, and NaN in a float column) compare as pandas compares them:
unequal to everything, so a row with a missing value is kept by ``!=`` and
``not in`` and dropped by every other comparison (``not x > 1`` keeps it).

Anything else (function calls, arithmetic, ``@variables``, a query on no column) is
refused with a :class:`~cytoplan.exceptions.CytoplanError` that names the offending
part; :func:`check_predicate` tries a translated query on a table's schema, so a
comparison its types do not allow is reported before any row is read.
``"all"`` means every row.

Examples
--------
>>> import polars as pl
>>> df = pl.DataFrame({"Metadata_control_type": ["negcon", "trt", None], "n": [5, 1, 9]})
>>> df.filter(as_predicate("Metadata_control_type == 'negcon' and n >= 2"))["n"].to_list()
[5]
>>> df.filter(as_predicate("Metadata_control_type in ['negcon', 'trt']"))["n"].to_list()
[5, 1]
>>> text = pl.DataFrame({"Metadata_Object_Count": ["16", "3"]})
>>> text.filter(as_predicate("Metadata_Object_Count >= 10")).height
1
>>> text.filter(as_predicate("Metadata_Object_Count in [3, 4]"))["Metadata_Object_Count"].to_list()
['3']
>>> as_predicate("all") is None
True
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from typing import Any

import polars as pl

from cytoplan.exceptions import ColumnNotFoundError, CytoplanError

__all__ = ["QueryError", "as_predicate", "check_predicate", "columns_in", "parse_query"]


class QueryError(CytoplanError):
    """A query string uses syntax outside the supported subset, or is malformed."""


#: a quoted string literal (left as it is) or a backticked name
_BACKTICK = re.compile(r"""('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")|`([^`]*)`""")
_COMPARE = {
    ast.Eq: "eq",
    ast.NotEq: "ne",
    ast.Lt: "lt",
    ast.LtE: "le",
    ast.Gt: "gt",
    ast.GtE: "ge",
}


def as_predicate(samples: str | pl.Expr | None, schema: pl.Schema | None = None) -> pl.Expr | None:
    """A row predicate from an expression, a query string, ``"all"`` or None (all rows).

    With the table's ``schema``, a query is read with its columns' types as pandas
    reads them (see :func:`parse_query`), and checked against the table before any
    row is read: a column it names that the table lacks is a
    :class:`~cytoplan.exceptions.ColumnNotFoundError`, a comparison the types do not
    allow a :class:`QueryError` (:func:`check_predicate`).
    """
    if samples is None:
        return None
    if isinstance(samples, pl.Expr):
        predicate = samples
    elif not isinstance(samples, str):
        msg = f"samples must be a string, a polars expression or None, got {type(samples).__name__}"
        raise QueryError(msg)
    elif samples.strip() == "all":
        return None
    else:
        predicate = parse_query(samples, schema)
    if schema is not None:
        missing = [n for n in dict.fromkeys(predicate.meta.root_names()) if n not in schema]
        if missing:
            raise ColumnNotFoundError.from_missing(missing, schema.names())
        check_predicate(predicate, schema, samples)
    return predicate


def check_predicate(predicate: pl.Expr, schema: pl.Schema, query: str | pl.Expr | None) -> None:
    """Raise :class:`QueryError` if ``predicate`` cannot run on a table of ``schema``.

    The predicate is tried on an empty table of that schema, so comparisons Polars
    cannot make (a number column against text, a date against a string, a condition
    that is not true/false) are reported with the query before any row is read.
    Text that must be read as a number is checked as the rows are read.

    >>> schema = pl.Schema({"Metadata_n": pl.Int64})
    >>> check_predicate(parse_query("Metadata_n > 1"), schema, "Metadata_n > 1")
    >>> check_predicate(parse_query("Metadata_n == '1'"), schema, "Metadata_n == '1'")
    Traceback (most recent call last):
    ...
    cytoplan.query.QueryError: query "Metadata_n == '1'" cannot be applied to this table: ...
    """
    try:
        pl.LazyFrame(schema=schema).filter(predicate).collect()
    except (
        pl.exceptions.ComputeError,
        pl.exceptions.InvalidOperationError,
        pl.exceptions.SchemaError,
    ) as error:
        reason = str(error).strip().splitlines()[0]
        msg = f"query {query!r} cannot be applied to this table: {reason}"
        raise QueryError(msg) from None


def parse_query(text: str, schema: pl.Schema | None = None) -> pl.Expr:
    """Translate a pandas-style query string into a Polars expression.

    Given the table's ``schema``, a number or float column is compared as pandas
    compares it: an integer column with an integer exactly (not through float64),
    a float32 column with the literal rounded to float32, a number column never
    equal to text; only a float column holds NaN. Without it, every column is read
    as its text or numbers would be (``Metadata_*`` columns are text in cytoplan).

    >>> f32 = pl.Series([0.1, 0.2], dtype=pl.Float32)
    >>> frame = pl.DataFrame({"n": [2**53, 2**53 + 1], "f": f32})
    >>> frame.filter(parse_query("n == 9007199254740993", frame.schema))["n"].to_list()
    [9007199254740993]
    >>> frame.filter(parse_query("f == 0.1", frame.schema)).height
    1
    """
    return _Translator(text, schema).translate()


def columns_in(text: str) -> list[str]:
    """The column names a query string refers to, in order of first use."""
    translator = _Translator(text)
    translator.translate()
    return list(dict.fromkeys(translator.names))


#: ``~`` stays an operator: pandas reads ``~x == -2`` as ``(~x) == -2``, the bitwise
#: inverse of an integer column (and ``~flag`` as the negation of a boolean one)
_BOOLEAN_WORDS = {"&": "and", "|": "or"}


def _boolean_spelling(source: str) -> str:
    """Spell ``& |`` as ``and or``: in pandas queries they bind like those words."""
    tokens = []
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.OP and token.string in _BOOLEAN_WORDS:
            token = token._replace(type=tokenize.NAME, string=_BOOLEAN_WORDS[token.string])
        tokens.append((token.type, token.string))
    return tokenize.untokenize(tokens).strip()


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _numeric_side(side: Any, other: Any, *, strict: bool) -> Any:
    """A column compared with a number is read as a number.

    cytoplan keeps ``Metadata_*`` columns as text, so ``Metadata_Object_Count >= 10``
    would otherwise compare text with a number. For ``==``/``!=`` text that is not a
    number is unequal to every number (``strict=False``: it is read as missing); for
    an ordering it is an error, raised when the rows are read.
    """
    if isinstance(side, pl.Expr) and _is_number(other):
        return side.cast(pl.Float64, strict=strict)
    return side


def _boolean_side(side: Any, other: Any) -> Any:
    """A column compared with ``True``/``False`` is read as the lowercase text of its
    values: a boolean column and a text column of ``"True"``/``"False"`` both match."""
    if isinstance(side, pl.Expr) and isinstance(other, bool):
        return side.cast(pl.String).str.to_lowercase()
    if isinstance(side, bool) and isinstance(other, pl.Expr):
        return str(side).lower()
    return side


def _nan_on_either_side(left: Any, right: Any) -> pl.Expr | None:
    """Whether a compared value is NaN, for a column read as a number (compared with
    a number, so already Float64) or compared with another column (read through its
    text, which any type has); None when no side can hold NaN."""
    parts: list[pl.Expr] = []
    both_columns = isinstance(left, pl.Expr) and isinstance(right, pl.Expr)
    for side, other in ((left, right), (right, left)):
        if isinstance(side, pl.Expr) and (_is_number(other) or both_columns):
            number = (
                side if _is_number(other) else side.cast(pl.String).cast(pl.Float64, strict=False)
            )
            parts.append(number.is_nan().fill_null(value=False))
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else parts[0] | parts[1]


def _same_for_every_row(column: pl.Expr, *, value: bool) -> pl.Expr:
    """``value`` on every row of ``column``: a condition on the column (one value per
    row, and a query naming a column), not a constant."""
    return (
        column.is_null() | pl.lit(value=True) if value else column.is_null() & pl.lit(value=False)
    )


def _membership(column: pl.Expr, values: list[Any]) -> pl.Expr:
    """``column in values`` with pandas' semantics for mixed literals: strings match
    the column's text, numbers its numeric reading, ``None`` its missing values."""
    numbers = [float(v) for v in values if _is_number(v)]
    texts = [v for v in values if isinstance(v, str)]
    flags = [str(v).lower() for v in values if isinstance(v, bool)]
    parts: list[pl.Expr] = []
    if texts:
        parts.append(column.cast(pl.String).is_in(texts))
    if numbers:
        parts.append(column.cast(pl.Float64, strict=False).is_in(numbers))
    if flags:
        parts.append(column.cast(pl.String).str.to_lowercase().is_in(flags))
    if any(v is None for v in values):
        parts.append(column.is_null())
    if not parts:  # an empty list
        return _same_for_every_row(column, value=False)
    member = parts[0]
    for part in parts[1:]:
        member = member.fill_null(value=False) | part.fill_null(value=False)
    return member.fill_null(value=False)


class _Translator:
    def __init__(self, text: str, schema: pl.Schema | None = None) -> None:
        self.text = text
        self.schema = schema
        self.names: list[str] = []
        self._quoted: dict[str, str] = {}

    def _dtype(self, side: Any) -> pl.DataType | None:
        """The type of a bare column side, when the schema is known."""
        if self.schema is None or not isinstance(side, pl.Expr) or not side.meta.is_column():
            return None
        return self.schema.get(side.meta.output_name())

    def translate(self) -> pl.Expr:
        source = _BACKTICK.sub(self._stash_backtick, self.text.strip())
        try:
            tree = ast.parse(_boolean_spelling(source), mode="eval")
        except (SyntaxError, tokenize.TokenError) as exc:
            msg = f"cannot parse query {self.text!r}: {exc}"
            raise QueryError(msg) from None
        result = self._node(tree.body)
        if not isinstance(result, pl.Expr) or not result.meta.root_names():
            msg = f"query {self.text!r} is a constant, not a condition on columns"
            raise QueryError(msg)
        return result

    def _stash_backtick(self, match: re.Match[str]) -> str:
        if match.group(1) is not None:
            return match.group(1)  # a string literal: backticks inside it are text
        placeholder = f"__cytoplan_bt{len(self._quoted)}__"
        self._quoted[placeholder] = match.group(2)
        return placeholder

    def _refuse(self, node: ast.AST) -> QueryError:
        part = ast.unparse(node)
        for placeholder, name in self._quoted.items():
            part = part.replace(placeholder, f"`{name}`")
        msg = (
            f"unsupported syntax {part!r} in query {self.text!r}; supported: comparisons, "
            "in / not in lists, and/or/not (&, |, ~), column names and literals"
        )
        return QueryError(msg)

    def _node(self, node: ast.AST) -> Any:
        if isinstance(node, ast.BoolOp):
            parts = [self._expr(value) for value in node.values]
            combined = parts[0]
            for part in parts[1:]:
                combined = combined & part if isinstance(node.op, ast.And) else combined | part
            return combined
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitAnd | ast.BitOr):
            left, right = self._expr(node.left), self._expr(node.right)
            return left & right if isinstance(node.op, ast.BitAnd) else left | right
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not | ast.Invert):
            return ~self._expr(node.operand)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            value = self._node(node.operand)
            if isinstance(value, int | float):
                return -value
            raise self._refuse(node)
        if isinstance(node, ast.Compare):
            return self._compare(node)
        if isinstance(node, ast.Name):
            name = self._quoted.get(node.id, node.id)
            self.names.append(name)
            return pl.col(name)
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.List | ast.Tuple | ast.Set):
            values = [self._node(element) for element in node.elts]
            if any(isinstance(value, pl.Expr) for value in values):
                raise self._refuse(node)
            return values
        raise self._refuse(node)

    def _expr(self, node: ast.AST) -> pl.Expr:
        value = self._node(node)
        if isinstance(value, pl.Expr):
            return value
        return pl.lit(value)

    def _compare(self, node: ast.Compare) -> pl.Expr:
        terms = [node.left, *node.comparators]
        conditions: list[pl.Expr] = []
        for op, left_node, right_node in zip(node.ops, terms[:-1], terms[1:], strict=True):
            left, right = self._node(left_node), self._node(right_node)
            conditions.append(self._one_comparison(node, op, left, right))
        combined = conditions[0]
        for condition in conditions[1:]:
            combined = combined & condition
        return combined

    def _one_comparison(self, node: ast.AST, op: ast.cmpop, left: Any, right: Any) -> pl.Expr:
        if isinstance(op, ast.In | ast.NotIn):
            if not isinstance(left, pl.Expr) or not isinstance(right, list):
                raise self._refuse(node)
            member = self._typed_membership(left, right)
            return ~member if isinstance(op, ast.NotIn) else member
        method = _COMPARE.get(type(op))
        if method is None:
            raise self._refuse(node)
        if method in ("eq", "ne") and isinstance(right, list) != isinstance(left, list):
            # pandas reads ``x == [1, 2]`` as ``x in [1, 2]``
            column, values = (left, right) if isinstance(right, list) else (right, left)
            if not isinstance(column, pl.Expr):
                raise self._refuse(node)
            member = self._typed_membership(column, values)
            return member if method == "eq" else ~member
        if right is None or left is None:
            other = left if right is None else right
            if method not in ("eq", "ne") or not isinstance(other, pl.Expr):
                raise self._refuse(node)
            return other.is_null() if method == "eq" else other.is_not_null()
        typed = self._typed_comparison(method, left, right)
        if typed is not None:
            return typed
        strict = method not in ("eq", "ne")
        if method in ("eq", "ne"):
            left, right = _boolean_side(left, right), _boolean_side(right, left)
        left = _numeric_side(left, right, strict=strict)
        right = _numeric_side(right, left, strict=strict)
        left_expr = left if isinstance(left, pl.Expr) else pl.lit(left)
        result: pl.Expr = getattr(left_expr, method)(right)
        # NaN is missing too, but Polars orders it above every number and equal to itself
        nan = None if self._cannot_hold_nan(left, right) else _nan_on_either_side(left, right)
        if nan is not None:
            result = result | nan if method == "ne" else result & ~nan
        # pandas compares missing values as unequal to everything: never null
        return result.fill_null(value=method == "ne")

    def _cannot_hold_nan(self, left: Any, right: Any) -> bool:
        """Two columns of known types, neither of them float: no side is NaN (the text
        ``"nan"`` is text)."""
        dtypes = [self._dtype(left), self._dtype(right)]
        return all(d is not None and not d.is_float() for d in dtypes)

    def _typed_membership(self, column: pl.Expr, values: list[Any]) -> pl.Expr:
        """``column in values``; a number column is matched by value (text never matches
        it, and ``None`` matches no float: NaN is unequal to everything)."""
        dtype = self._dtype(column)
        if dtype is None or not dtype.is_numeric():
            return _membership(column, values)
        numbers = [v for v in values if _is_number(v) or isinstance(v, bool)]
        if not dtype.is_float():
            numbers += [None] if any(v is None for v in values) else []
        parts = [_number_equals(column, dtype, v) for v in numbers]
        if not parts:
            return _same_for_every_row(column, value=False)
        member = parts[0]
        for part in parts[1:]:
            member = member | part
        return member

    def _typed_comparison(self, method: str, left: Any, right: Any) -> pl.Expr | None:
        """A number column against a literal, read as pandas reads it (None: not such a
        comparison, or the schema is unknown)."""
        for column, literal, flipped in ((left, right, False), (right, left, True)):
            dtype = self._dtype(column)
            if dtype is None or not dtype.is_numeric() or isinstance(literal, pl.Expr):
                continue
            if isinstance(literal, str):
                if method not in ("eq", "ne"):
                    msg = f"query {self.text!r} orders a number column against text"
                    raise QueryError(msg)
                return _same_for_every_row(column, value=method == "ne")  # never equal
            if not _is_number(literal):
                return None
            value = _number_literal(dtype, literal)
            order = {"lt": "gt", "le": "ge", "gt": "lt", "ge": "le"}.get(method, method)
            result: pl.Expr = getattr(column, order if flipped else method)(value)
            if dtype.is_float():
                nan = column.is_nan()
                result = result | nan if method == "ne" else result & ~nan
            return result.fill_null(value=method == "ne")
        return None


def _number_literal(dtype: pl.DataType, value: float, *, member: bool = False) -> pl.Expr:
    """A number as pandas compares it with a column of ``dtype``: an integer stays an
    integer against integers; a comparison with float32 rounds it to float32 (but
    ``isin`` compares the column's values as float64)."""
    if dtype == pl.Float32 and not member:
        return pl.lit(value, pl.Float32)
    if isinstance(value, int) and dtype.is_integer():
        return pl.lit(value)
    return pl.lit(float(value), pl.Float64)


def _number_equals(column: pl.Expr, dtype: pl.DataType, value: Any) -> pl.Expr:
    if value is None:
        return column.is_null()
    number = int(value) if isinstance(value, bool) else value
    return column.eq(_number_literal(dtype, number, member=True)).fill_null(value=False)

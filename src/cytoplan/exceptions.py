"""The one exception tree of cytoplan.

Every error that cytoplan raises on bad input derives from :class:`CytoplanError`
and says what is wrong, where (file, table, column, plate or recipe line) and,
where there is one, how to fix it.

Examples
--------
>>> from cytoplan.exceptions import ColumnNotFoundError
>>> error = ColumnNotFoundError.from_missing(["Metadata_Well"], ["Metadata_Plate", "Cells_A"])
>>> print(error)
column(s) not found: 'Metadata_Well'; available: 'Metadata_Plate', 'Cells_A'
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = [
    "ColumnNotFoundError",
    "CytoplanError",
    "JoinError",
    "NotFittedError",
    "ParameterError",
    "RecipeError",
    "SchemaError",
    "SourceError",
    "StatisticsError",
    "first_paragraph",
    "is_bad_value",
]


def _names(names: Iterable[str], limit: int = 12) -> str:
    listed = [repr(n) for n in names]
    if len(listed) > limit:
        listed = [*listed[:limit], f"... ({len(listed) - limit} more)"]
    return ", ".join(listed)


class CytoplanError(Exception):
    """Base class of every error cytoplan raises on purpose."""


class SourceError(CytoplanError):
    """An input file, table or URL cannot be read as asked (not found, wrong format, empty)."""


class SchemaError(CytoplanError):
    """A table has columns of the wrong kind (e.g. a feature that is not numeric)."""


class ColumnNotFoundError(SchemaError):
    """A column that was asked for does not exist."""

    @classmethod
    def from_missing(
        cls, missing: Iterable[str], available: Iterable[str], *, where: str = ""
    ) -> ColumnNotFoundError:
        """Build the error, naming what is missing and what is there."""
        place = f" in {where}" if where else ""
        msg = f"column(s) not found{place}: {_names(missing)}; available: {_names(available)}"
        return cls(msg)


class JoinError(CytoplanError):
    """A join would drop or multiply rows (unmatched or duplicated keys)."""


class StatisticsError(CytoplanError):
    """A statistic cannot be computed (no reference rows, constant feature, ...)."""


class NotFittedError(CytoplanError):
    """``transform`` was called before ``fit``."""


class RecipeError(CytoplanError):
    """A recipe is invalid (unknown key, wrong type, missing file), with its location."""


class ParameterError(CytoplanError, ValueError):
    """An argument is out of its allowed range or of the wrong kind."""


#: How Polars words a value it cannot convert: a CSV field that is not a number, a
#: text value cast to a number
_BAD_VALUE = ("could not parse", "conversion from `str`")


def is_bad_value(error: Exception) -> bool:
    """Whether a Polars error is about a value of the input, not about the program.

    >>> is_bad_value(ValueError("could not parse `#DIV/0!` as dtype `f64` at column 'Cells_a'"))
    True
    """
    return str(error).lstrip().startswith(_BAD_VALUE)


def first_paragraph(text: str) -> str:
    """An error message up to its first blank line (Polars appends long advice).

    >>> first_paragraph("could not parse `x` as dtype `f64`\\n\\nYou might want to try: ...")
    'could not parse `x` as dtype `f64`'
    """
    return text.strip().split("\n\n", 1)[0].strip()

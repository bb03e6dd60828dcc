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
    "MemoryLimitWarning",
    "NotFittedError",
    "ParameterError",
    "RecipeError",
    "SchemaError",
    "SourceError",
    "StatisticsError",
    "first_paragraph",
    "is_bad_value",
    "type_name",
]


def _names(names: Iterable[str], limit: int = 12) -> str:
    listed = [repr(n) for n in names]
    if len(listed) > limit:
        listed = [*listed[:limit], f"... ({len(listed) - limit} more)"]
    return ", ".join(listed)


def _guesses(missing: list[str], available: list[str]) -> list[str]:
    """Columns that are probably the missing ones under another name: with a prefix
    (``Image_Metadata_Well`` for ``Metadata_Well``) or spelled a little differently."""
    import difflib

    guesses: list[str] = []
    for name in missing:
        prefixed = [column for column in available if column.endswith(f"_{name}")]
        close = prefixed or difflib.get_close_matches(name, available, n=1, cutoff=0.85)
        guesses.extend(column for column in close[:1] if column not in guesses)
    return guesses


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
        """Build the error, naming what is missing, what it may be called instead and
        what is there.

        >>> error = ColumnNotFoundError.from_missing(["Metadata_Well"], ["Image_Metadata_Well"])
        >>> print(str(error).replace("; ", ";\\n"))
        column(s) not found: 'Metadata_Well';
        did you mean 'Image_Metadata_Well'? available: 'Image_Metadata_Well'
        """
        missing, available = list(missing), list(available)
        place = f" in {where}" if where else ""
        guesses = _guesses(missing, available)
        hint = f"; did you mean {_names(guesses)}?" if guesses else ";"
        msg = f"column(s) not found{place}: {_names(missing)}{hint} available: {_names(available)}"
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


class MemoryLimitWarning(UserWarning):
    """The input is laid out so that a step will hold more than ``memory_limit``
    (e.g. a Parquet file in row groups too long to stream by rows)."""


#: How Polars words a value it cannot convert: a CSV field that is not a number, a
#: text value cast to a number
_BAD_VALUE = (
    "could not parse",
    "conversion from `str`",
    # the files of one Parquet dataset (folder, glob) disagree on their columns
    "data type mismatch for column",
    "extra column in file outside of expected schema",
    "invalid utf-8 sequence",
    "found more fields than defined",  # a CSV row longer than the header
)


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


def type_name(value: object) -> str:
    """``package.Class`` of a value, for messages about an argument of the wrong type.

    >>> type_name(3), type_name(ValueError())
    ('builtins.int', 'builtins.ValueError')
    """
    kind = type(value)
    return f"{kind.__module__.split('.')[0]}.{kind.__name__}"

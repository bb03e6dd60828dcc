"""YAML with line numbers: every mapping and list remembers where its items are.

PyYAML's node API (``yaml.compose_all``) keeps the position of every node; the
values built here are plain dicts and lists (subclasses) carrying those lines, so
validation errors can say ``recipe.yml:12``.

Examples
--------
>>> docs = load_documents("a: 1\\nb:\\n  - x\\n  - y\\n", "r.yml")
>>> docs[0]["b"], docs[0].line_of("b"), docs[0]["b"].line_of(1)
(['x', 'y'], 2, 4)
>>> load_documents("a: &base {x: 1, y: 2}\\nb: {<<: *base, y: 3}\\n", "r.yml")[0]["b"]
{'x': 1, 'y': 3}
"""

from __future__ import annotations

import re
from typing import Any

from cytoplan.exceptions import RecipeError

__all__ = ["LineDict", "LineList", "load_documents"]


class LineDict(dict[str, Any]):
    """A mapping from YAML with the line of itself and of each key (1-based)."""

    line: int = 0
    lines: dict[str, int]

    def line_of(self, key: str) -> int:
        """Line of ``key`` (of the mapping itself when the key is absent)."""
        return self.lines.get(key, self.line)


class LineList(list[Any]):
    """A sequence from YAML with the line of itself and of each item (1-based)."""

    line: int = 0
    lines: list[int]

    def line_of(self, index: int) -> int:
        """Line of item ``index``."""
        return self.lines[index] if 0 <= index < len(self.lines) else self.line


def _build(node: Any, constructor: Any, source: str) -> Any:
    import yaml

    if isinstance(node, yaml.MappingNode):
        mapping = LineDict()
        mapping.line = node.start_mark.line + 1
        mapping.lines = {}
        written = len([k for k, _ in node.value if k.tag != "tag:yaml.org,2002:merge"])
        try:
            constructor.flatten_mapping(node)  # `<<: *anchor` merge keys, first
        except yaml.MarkedYAMLError as error:
            msg = f"{source}:{node.start_mark.line + 1}: {error.problem}"
            raise RecipeError(msg) from None
        merged = len(node.value) - written
        explicit: set[str] = set()
        for index, (key_node, value_node) in enumerate(node.value):
            key = constructor.construct_object(key_node, deep=True)
            if not isinstance(key, str):
                key = str(key)
            line = key_node.start_mark.line + 1
            if key in explicit:
                msg = f"{source}:{line}: key {key!r} appears twice in the same section; keep one"
                raise RecipeError(msg)
            if index >= merged:  # written here: overrides what a merge brought in
                explicit.add(key)
            mapping[key] = _build(value_node, constructor, source)
            mapping.lines[key] = line
        return mapping
    if isinstance(node, yaml.SequenceNode):
        items = LineList(_build(item, constructor, source) for item in node.value)
        items.line = node.start_mark.line + 1
        items.lines = [item.start_mark.line + 1 for item in node.value]
        return items
    if node.style is None and node.tag == _TEXT and _EXPONENT_NUMBER.match(node.value):
        return float(node.value)
    return constructor.construct_object(node, deep=True)


_TEXT = "tag:yaml.org,2002:str"
#: ``1e-6``: a number in YAML 1.2, text in PyYAML's YAML 1.1 (which wants ``1.0e-6``);
#: profiling-recipe's ``float()`` reads it as a number, and so does cytoplan (unquoted).
_EXPONENT_NUMBER = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+$")


def load_documents(text: str, source: str) -> list[Any]:
    """Every document of a (multi-document) YAML text, with line numbers.

    Parameters
    ----------
    text : str
        The YAML text.
    source : str
        The file name used in error messages.

    Raises
    ------
    RecipeError
        When the text is not valid YAML (with the line and column of the problem).
    """
    import yaml

    constructor = yaml.SafeLoader("")
    try:
        nodes = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        msg = f"{where}: not valid YAML: {error.problem}; fix the indentation or quoting there"
        raise RecipeError(msg) from None
    return [_build(node, constructor, source) for node in nodes if node is not None]

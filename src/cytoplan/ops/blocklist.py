"""Blocklists: named lists of columns known to be noise, shipped with cytoplan.

The packaged registry ``cytoplan/data/default_blocklists.yaml`` maps a list name
to column names. ``default`` is pycytominer 1.7.1's list of 55 known-noisy
CellProfiler features (Way 2019): the Manders and RWC nuclear correlations of
every ordered pair of the channels AGP, DNA, ER, Mito and RNA, and the nuclear
granularity scales 14-16 of each channel.

The file is read (with PyYAML, imported here only) the first time a list is asked
for; ops never read a user's file: pass your own names as a list (the ``api``
layer reads files).

Examples
--------
>>> names = blocklist_names("default")
>>> len(names), names[0]
(55, 'Nuclei_Correlation_Manders_AGP_DNA')
>>> resolve_blocklist(["Cells_Bad"], blocklist_name="default")[-1]
'Cells_Bad'
>>> packaged_blocklists()
['default']
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from importlib import resources

from cytoplan.exceptions import CytoplanError
from cytoplan.ops._params import one_of, reject

__all__ = [
    "DEFAULT_BLOCKLIST",
    "blocklist_names",
    "packaged_blocklists",
    "resolve_blocklist",
]

DEFAULT_BLOCKLIST = "default"
_REGISTRY = "default_blocklists.yaml"


@cache
def _registry() -> dict[str, tuple[str, ...]]:
    import yaml

    text = resources.files("cytoplan").joinpath("data", _REGISTRY).read_text(encoding="utf-8")
    loaded = yaml.safe_load(text)
    if not isinstance(loaded, dict):  # pragma: no cover - the packaged file is a mapping
        msg = f"packaged blocklist registry {_REGISTRY} is not a mapping of names to lists"
        raise CytoplanError(msg)
    return {str(key): tuple(str(name) for name in value) for key, value in loaded.items()}


def packaged_blocklists() -> list[str]:
    """Names of the packaged blocklists."""
    return list(_registry())


def blocklist_names(name: str | Sequence[str] = DEFAULT_BLOCKLIST) -> list[str]:
    """Column names of one packaged blocklist, or of several concatenated in order."""
    return _packaged(name, "blocklist_name")


def _packaged(name: str | Sequence[str], parameter: str) -> list[str]:
    names = [name] if isinstance(name, str) else list(name)
    registry = _registry()
    found: list[str] = []
    for key in names:
        if key not in registry:
            reject(
                parameter,
                key,
                f"the name of a packaged blocklist ({one_of(list(registry))})",
                hint=(
                    "unknown packaged blocklist; to block columns by name pass "
                    "blocklist=[...] (a list of column names)"
                ),
            )
        found.extend(registry[key])
    return found


def resolve_blocklist(
    blocklist: str | Sequence[str] | None = None,
    *,
    blocklist_name: str | Sequence[str] | None = None,
) -> list[str]:
    """The column names to block, de-duplicated in first-seen order.

    * ``blocklist`` is a list of column names, or a string naming a packaged list;
    * ``blocklist_name`` names one or more packaged lists, loaded first;
    * with neither, the packaged ``default`` list.
    """
    found: list[str] = []
    if blocklist_name is not None:
        found.extend(blocklist_names(blocklist_name))
    if isinstance(blocklist, str):
        found.extend(_packaged(blocklist, "blocklist"))
    elif blocklist is not None:
        if not isinstance(blocklist, Sequence) or not all(
            isinstance(name, str) for name in blocklist
        ):
            reject(
                "blocklist",
                blocklist,
                "a list of column names (strings) or the name of a packaged blocklist",
            )
        found.extend(blocklist)
    elif blocklist_name is None:
        found.extend(blocklist_names(DEFAULT_BLOCKLIST))
    return list(dict.fromkeys(found))

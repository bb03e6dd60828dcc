"""pycytominer's ``cyto_utils.blocklist``: named blocklists and ``get_blocklist_features``.

The packaged registry is cytoplan's ``default_blocklists.yaml`` (the same 55 names as
pycytominer's ``default`` list), read through :mod:`cytoplan.ops.blocklist`.
"""

from __future__ import annotations

import pathlib
import warnings
from importlib.resources import files
from typing import Any

import pandas as pd

from cytoplan.compat.pycytominer._frames import pycytominer_errors
from cytoplan.ops.blocklist import blocklist_names, packaged_blocklists

__all__ = ["DEFAULT_BLOCKLIST_NAME", "Blocklist", "blocklists_file", "get_blocklist_features"]

#: the packaged registry (YAML: name → list of feature names)
blocklists_file = str(files("cytoplan") / "data" / "default_blocklists.yaml")
DEFAULT_BLOCKLIST_NAME = "default"


class Blocklist:
    """Feature names to block: named lists from a YAML registry plus explicit names.

    >>> len(Blocklist())
    0
    >>> len(Blocklist("default"))
    55
    >>> Blocklist(features_to_block=["Cells_x"]).to_list()
    ['Cells_x']
    """

    def __init__(
        self,
        blocklist_name: str | list[str] | None = None,
        features_to_block: list[str] | None = None,
        blocklists_file: str | pathlib.Path = blocklists_file,
    ) -> None:
        self.blocklist_name = blocklist_name
        self.features: list[str] = []
        for name in self._normalize_blocklist_names(blocklist_name):
            self.features.extend(self._load_named_blocklist(name, blocklists_file))
        if features_to_block is not None:
            self.add(features_to_block)

    def add(self, features: list[str]) -> None:
        """Append feature names (``TypeError`` unless a list)."""
        if not isinstance(features, list):
            msg = "Blocklist.add() requires a list of feature names."
            raise TypeError(msg)
        self.features.extend(str(feature) for feature in features)

    def to_list(self) -> list[str]:
        """A copy of the blocked names."""
        return self.features.copy()

    def __iter__(self) -> Any:
        return iter(self.features)

    def __len__(self) -> int:
        return len(self.features)

    @staticmethod
    def _load_named_blocklist(
        blocklist_name: str, blocklists_file: str | pathlib.Path = blocklists_file
    ) -> list[str]:
        if str(blocklists_file) == globals()["blocklists_file"]:
            if blocklist_name not in packaged_blocklists():
                names = ", ".join(sorted(packaged_blocklists()))
                msg = f"Unknown blocklist name '{blocklist_name}'. Choose one of: {names}"
                raise ValueError(msg)
            with pycytominer_errors():
                return blocklist_names(blocklist_name)
        import yaml

        with pathlib.Path(blocklists_file).open() as stream:
            registry = yaml.safe_load(stream)
        if not isinstance(registry, dict):
            msg = "Blocklist registry must be a mapping of blocklist names to feature lists."
            raise ValueError(msg)
        if blocklist_name not in registry:
            msg = (
                f"Unknown blocklist name '{blocklist_name}'. "
                f"Choose one of: {', '.join(sorted(registry))}"
            )
            raise ValueError(msg)
        entry = registry[blocklist_name]
        if not isinstance(entry, list):
            msg = (
                "Each blocklist registry entry must be a list of feature names. Feature names "
                "may be strings or values that can be converted to strings."
            )
            raise ValueError(msg)
        return [str(feature) for feature in entry]

    @staticmethod
    def _normalize_blocklist_names(blocklist_name: str | list[str] | None) -> list[str]:
        if blocklist_name is None:
            return []
        if isinstance(blocklist_name, str):
            return [blocklist_name]
        if isinstance(blocklist_name, list):
            return [str(name) for name in blocklist_name]
        msg = "blocklist_name must be a string, a list of strings, or None."
        raise TypeError(msg)


def get_blocklist_features(
    blocklist: str | list[str] | Blocklist | None = None,
    blocklist_name: str | list[str] | None = None,
    population_df: pd.DataFrame | None = None,
    blocklist_file: str | pathlib.Path | None = None,
) -> list[str]:
    """Names to block, optionally only those that are columns of ``population_df``.

    A string is one feature name; with neither ``blocklist`` nor ``blocklist_name`` the
    packaged ``default`` list.

    >>> len(get_blocklist_features())
    55
    >>> get_blocklist_features("Cells_x")
    ['Cells_x']
    """
    if blocklist_file is not None:
        warnings.warn(
            "`blocklist_file` is deprecated and will be removed in a future release. Pass "
            "feature names directly via `blocklist` (a list or Blocklist object), or use a "
            "YAML registry via `blocklist_name` and `blocklists_file`.",
            DeprecationWarning,
            stacklevel=2,
        )
        table = pd.read_csv(blocklist_file)
        if "blocklist" not in table.columns:
            msg = "The file passed to `blocklist_file` must contain a column named 'blocklist'."
            raise ValueError(msg)
        blocklist = table["blocklist"].tolist()
    if blocklist is None:
        name = blocklist_name if blocklist_name is not None else DEFAULT_BLOCKLIST_NAME
        features = Blocklist(blocklist_name=name).to_list()
    elif isinstance(blocklist, Blocklist):
        features = blocklist.to_list()
    elif isinstance(blocklist, str):
        features = [blocklist]
    elif isinstance(blocklist, list):
        features = [str(feature) for feature in blocklist]
    else:
        msg = "blocklist must be a feature-name string, a list of feature names, or a Blocklist."
        raise TypeError(msg)
    if isinstance(population_df, pd.DataFrame):
        columns = set(population_df.columns.tolist())
        features = [x for x in features if x in columns]
    return features

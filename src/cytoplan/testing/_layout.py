"""Plate geometry and the synthetic plate map (which treatment is in which well).

The layout depends only on the number of wells, never on a seed, so every
plate of the same size shares one plate map (as plates of a batch share
``platemap_1`` in profiling-recipe projects).

Examples
--------
>>> from cytoplan.testing._layout import plate_layout, well_names
>>> well_names(24)[:3], well_names(24)[-1]
(['A01', 'A02', 'A03'], 'D06')
>>> sum(w.control_type == "negcon" for w in plate_layout(24))
6
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from cytoplan.testing._errors import SyntheticDataError

__all__ = [
    "MAX_WELLS",
    "MOAS",
    "WellTreatment",
    "compound_id",
    "grid_columns",
    "n_compounds",
    "plate_layout",
    "well_names",
]

#: Largest plate the generator lays out (a 1536-well plate).
MAX_WELLS = 1536

#: (mechanism of action, target) pairs cycled over compounds for external metadata.
MOAS: tuple[tuple[str, str], ...] = (
    ("tubulin polymerization inhibitor", "TUBB"),
    ("HDAC inhibitor", "HDAC1"),
    ("CDK inhibitor", "CDK2"),
    ("EGFR inhibitor", "EGFR"),
    ("glucocorticoid receptor agonist", "NR3C1"),
    ("proteasome inhibitor", "PSMB5"),
    ("mTOR inhibitor", "MTOR"),
    ("topoisomerase inhibitor", "TOP2A"),
)

_POSCONS: tuple[tuple[str, str], ...] = (
    ("BRD-K50691590-001-02-2", "bortezomib"),
    ("BRD-K60230970-001-10-0", "MG-132"),
)


@dataclass(frozen=True)
class WellTreatment:
    """What one well holds in the synthetic plate map.

    Attributes
    ----------
    well : str
        Well position, e.g. ``"A01"``.
    broad_sample : str
        ``"DMSO"`` for negative controls, else a ``BRD-K...`` identifier.
    pert_iname : str
        Perturbation name.
    control_type : str
        ``"negcon"``, ``"poscon"`` or ``""`` (a compound treatment).
    compound : int
        Compound index ``k >= 0``; ``-1`` for DMSO and ``-2 - k`` for positive
        control ``k``.
    """

    well: str
    broad_sample: str
    pert_iname: str
    control_type: str
    compound: int


def grid_columns(wells: int) -> int:
    """Number of plate columns used to lay out ``wells`` wells row-major.

    Examples
    --------
    >>> [grid_columns(n) for n in (24, 96, 384, 1536)]
    [6, 12, 24, 48]
    """
    _check_wells(wells)
    if wells <= 24:
        return 6
    if wells <= 96:
        return 12
    if wells <= 384:
        return 24
    return 48


def _check_wells(wells: int) -> None:
    if not 1 <= wells <= MAX_WELLS:
        msg = f"wells must be between 1 and {MAX_WELLS}, got {wells}"
        raise SyntheticDataError(msg)


def _row_name(row: int) -> str:
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    if row < len(letters):
        return letters[row]
    return letters[row // len(letters) - 1] + letters[row % len(letters)]


@lru_cache(maxsize=8)
def _well_names(wells: int) -> tuple[str, ...]:
    cols = grid_columns(wells)
    return tuple(f"{_row_name(i // cols)}{i % cols + 1:02d}" for i in range(wells))


def well_names(wells: int) -> list[str]:
    """Well positions ``A01, A02, ...`` laid out row-major.

    Examples
    --------
    >>> well_names(8)
    ['A01', 'A02', 'A03', 'A04', 'A05', 'A06', 'B01', 'B02']
    """
    return list(_well_names(wells))


def compound_id(k: int) -> str:
    """Deterministic ``BRD-K`` identifier of compound ``k``.

    Examples
    --------
    >>> compound_id(0)
    'BRD-K95143497-001-01-7'
    """
    digest = hashlib.sha256(f"compound-{k}".encode()).digest()
    number = int.from_bytes(digest[:8], "big")
    return f"BRD-K{number % 10**8:08d}-001-01-{number % 10}"


def _n_poscon_wells(wells: int) -> int:
    return 0 if wells < 8 else max(4, 4 * round(wells / 96))


def n_compounds(wells: int) -> int:
    """Number of distinct compounds on a plate map of ``wells`` wells.

    Examples
    --------
    >>> n_compounds(24)
    7
    """
    negcon = sum(1 for i in range(wells) if _is_negcon(i, wells))
    treated = wells - negcon - _n_poscon_wells(wells)
    return max(treated // 2, 1 if treated else 0)


def _is_negcon(index: int, wells: int) -> bool:
    cols = grid_columns(wells)
    return (index // cols + index % cols) % 4 == 0


@lru_cache(maxsize=8)
def _layout(wells: int) -> tuple[WellTreatment, ...]:
    names = _well_names(wells)
    rng = np.random.default_rng(np.random.SeedSequence([wells, 0x1A70]))
    others = [i for i in range(wells) if not _is_negcon(i, wells)]
    order = [others[i] for i in rng.permutation(len(others))]
    n_pos = _n_poscon_wells(wells)
    n_cmp = n_compounds(wells)
    assigned: dict[int, WellTreatment] = {}
    for rank, index in enumerate(order):
        if rank < n_pos:
            sample, name = _POSCONS[rank % len(_POSCONS)]
            assigned[index] = WellTreatment(names[index], sample, name, "poscon", -2 - rank % 2)
            continue
        k = min((rank - n_pos) // 2, n_cmp - 1)
        assigned[index] = WellTreatment(names[index], compound_id(k), f"cmpd_{k:04d}", "", k)
    dmso = {i: WellTreatment(names[i], "DMSO", "DMSO", "negcon", -1) for i in range(wells)}
    return tuple(assigned.get(i, dmso[i]) for i in range(wells))


def plate_layout(wells: int) -> list[WellTreatment]:
    """Treatment of every well of a synthetic plate map, in well order.

    About one well in four is a negative control (``DMSO``, on diagonals so they
    spread over the plate); plates of 8 wells or more get positive controls
    (two compounds, each in at least two wells); every other compound fills two
    wells (three for the last one when the count is odd).

    Parameters
    ----------
    wells : int
        Number of wells, 1 to 1536.

    Returns
    -------
    list of WellTreatment

    Examples
    --------
    >>> layout = plate_layout(24)
    >>> layout[0].well, layout[0].control_type, layout[0].broad_sample
    ('A01', 'negcon', 'DMSO')
    """
    return list(_layout(wells))


def plate_rows(wells: int) -> int:
    """Number of plate rows used for ``wells`` wells.

    Examples
    --------
    >>> plate_rows(24)
    4
    """
    return math.ceil(wells / grid_columns(wells))

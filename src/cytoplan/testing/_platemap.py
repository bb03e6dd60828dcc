"""Profiling-recipe metadata files for synthetic plates: plate maps and external metadata."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import TYPE_CHECKING

from cytoplan.testing._errors import SyntheticDataError
from cytoplan.testing._layout import MOAS, n_compounds, plate_layout
from cytoplan.testing._spec import PlateSpec

if TYPE_CHECKING:
    import os
    from collections.abc import Iterable, Sequence

__all__ = ["PLATEMAP_COLUMNS", "write_external_metadata", "write_platemap"]

PLATEMAP_COLUMNS: tuple[str, ...] = (
    "plate_map_name",
    "well_position",
    "broad_sample",
    "mg_per_ml",
    "mmoles_per_liter",
    "solvent",
    "control_type",
    "pert_iname",
)
EXTERNAL_METADATA_COLUMNS: tuple[str, ...] = ("broad_sample", "pert_iname", "moa", "target")
_POSCON_MOA = ("proteasome inhibitor", "PSMB5")


def _write_rows(path: Path, header: Sequence[str], rows: Iterable[Sequence[str]], sep: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, delimiter=sep, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def _resolve_wells(specs: Sequence[PlateSpec | str], wells: int | None) -> int:
    sizes = {s.wells for s in specs if isinstance(s, PlateSpec)}
    if wells is not None:
        sizes.add(wells)
    if len(sizes) > 1:
        msg = (
            f"plates sharing one plate map must have the same number of wells, got {sorted(sizes)}"
        )
        raise SyntheticDataError(msg)
    return sizes.pop() if sizes else PlateSpec("P").wells


def write_platemap(
    specs_or_plates: PlateSpec | str | Sequence[PlateSpec | str],
    platemap_dir: str | os.PathLike[str],
    platemap_name: str = "platemap_1",
    *,
    batch: str | None = None,
    wells: int | None = None,
) -> tuple[Path, Path]:
    """Write a profiling-recipe plate map for plates that share one layout.

    Files: ``<dir>/barcode_platemap.csv`` (columns exactly
    ``Assay_Plate_Barcode,Plate_Map_Name``) and ``<dir>/platemap/<name>.txt``
    (tab-separated, columns :data:`PLATEMAP_COLUMNS`), where ``<dir>`` is
    ``platemap_dir`` or, when ``batch`` is given, ``platemap_dir/batch`` (as in
    ``metadata/platemaps/<batch>/``). Negative controls have ``control_type``
    ``negcon`` and ``broad_sample`` ``DMSO``; positive controls ``poscon``;
    compound wells an empty ``control_type``.

    Parameters
    ----------
    specs_or_plates : PlateSpec, str or a sequence of them
        The plates (barcodes) that use this plate map.
    platemap_dir : str or path-like
    platemap_name : str, default "platemap_1"
    batch : str, optional
        Batch folder to create under ``platemap_dir``.
    wells : int, optional
        Plate size when only barcodes are given (default: ``PlateSpec``'s 24).

    Returns
    -------
    (Path, Path)
        The barcode map and the plate map.

    Examples
    --------
    >>> import tempfile
    >>> barcode, platemap = write_platemap(["P1", "P2"], tempfile.mkdtemp())
    >>> barcode.read_text().splitlines()
    ['Assay_Plate_Barcode,Plate_Map_Name', 'P1,platemap_1', 'P2,platemap_1']
    >>> platemap.read_text().splitlines()[1]
    'platemap_1\\tA01\\tDMSO\\t0\\t0\\tDMSO\\tnegcon\\tDMSO'
    """
    items = [specs_or_plates] if isinstance(specs_or_plates, PlateSpec | str) else specs_or_plates
    specs = list(items)
    if not specs:
        msg = "write_platemap needs at least one plate"
        raise SyntheticDataError(msg)
    n_wells = _resolve_wells(specs, wells)
    plates = [s.plate if isinstance(s, PlateSpec) else s for s in specs]
    base = Path(platemap_dir) if batch is None else Path(platemap_dir) / batch
    barcode = base / "barcode_platemap.csv"
    _write_rows(
        barcode,
        ("Assay_Plate_Barcode", "Plate_Map_Name"),
        [(p, platemap_name) for p in plates],
        ",",
    )
    platemap = base / "platemap" / f"{platemap_name}.txt"
    _write_rows(platemap, PLATEMAP_COLUMNS, _platemap_rows(n_wells, platemap_name), "\t")
    return barcode, platemap


def _platemap_rows(wells: int, name: str) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for w in plate_layout(wells):
        if w.control_type == "negcon":
            dose = ("0", "0")
        elif w.control_type == "poscon":
            dose = ("0.0038", "10")
        else:
            dose = (f"{0.002 + 0.0005 * (w.compound % 7):.4f}", "10")
        rows.append((name, w.well, w.broad_sample, *dose, "DMSO", w.control_type, w.pert_iname))
    return rows


def write_external_metadata(path: str | os.PathLike[str], *, wells: int = 384) -> Path:
    """Write external metadata (TSV keyed by ``broad_sample``) for a plate map's compounds.

    Columns: ``broad_sample, pert_iname, moa, target``, one row per compound and
    positive control of the plate map of ``wells`` wells (compound ``k`` of a
    small plate map is compound ``k`` of a larger one, so the default covers
    every plate map up to 384 wells). DMSO has no row.

    Parameters
    ----------
    path : str or path-like
    wells : int, default 384

    Returns
    -------
    Path

    Examples
    --------
    >>> import tempfile, pathlib
    >>> out = write_external_metadata(pathlib.Path(tempfile.mkdtemp()) / "em.tsv", wells=24)
    >>> out.read_text().splitlines()[0].split("\\t")
    ['broad_sample', 'pert_iname', 'moa', 'target']
    """
    rows: dict[str, tuple[str, ...]] = {}
    for w in plate_layout(wells):
        if w.control_type == "poscon":
            rows[w.broad_sample] = (w.broad_sample, w.pert_iname, *_POSCON_MOA)
    compounds = {w.compound: w for w in plate_layout(wells) if w.control_type == ""}
    for k in range(n_compounds(wells)):
        w = compounds[k]
        rows[w.broad_sample] = (w.broad_sample, w.pert_iname, *MOAS[k % len(MOAS)])
    target = Path(path)
    _write_rows(target, EXTERNAL_METADATA_COLUMNS, list(rows.values()), "\t")
    return target

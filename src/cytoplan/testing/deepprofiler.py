"""Synthetic DeepProfiler projects: an index CSV and per-site ``.npz`` feature files.

The layout follows DeepProfiler's ``profile`` output::

    <root>/inputs/metadata/index.csv
    <root>/inputs/config/config.json
    <root>/outputs/results/features/<plate>/<well>_<site>.npz

Each ``.npz`` holds ``features`` (``n_cells × n_features`` float32), ``locations``
(``n_cells × 2`` float, x then y) and ``metadata`` (a pickled dict with the site's
``Metadata_Plate``/``Metadata_Well``/``Metadata_Site``, a treatment and ``Model``).
Values are seeded per site, so the same arguments give the same files.

Examples
--------
>>> import tempfile, pathlib
>>> project = write_deepprofiler_project(pathlib.Path(tempfile.mkdtemp()), sites=1)
>>> sorted(p.name for p in project.profile_dir.rglob("*.npz"))[:2]
['A01_1.npz', 'A01_1.npz']
"""

from __future__ import annotations

import csv
import json
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["DeepProfilerProject", "write_deepprofiler_project"]


@dataclass(frozen=True)
class DeepProfilerProject:
    """Where a generated project lives and what it holds."""

    root: Path
    index_file: Path
    config_file: Path
    profile_dir: Path
    plates: tuple[str, ...]
    wells: tuple[str, ...]
    sites: tuple[str, ...]
    n_features: int
    model: str


def write_deepprofiler_project(
    root: str | Path,
    *,
    n_plates: int = 2,
    wells: Sequence[str] = ("A01", "A02", "B01"),
    sites: int = 2,
    n_features: int = 8,
    cells_per_site: tuple[int, int] = (3, 7),
    model: str = "efficientnet",
    seed: int = 0,
) -> DeepProfilerProject:
    """Write a small DeepProfiler project under ``root`` and describe it.

    Parameters
    ----------
    root
        Project folder (created).
    n_plates
        Plates ``P1``, ``P2``, ...
    wells
        Well names, the same on every plate.
    sites
        Sites ``1..sites`` per well.
    n_features
        Feature columns per cell.
    cells_per_site
        Inclusive range of cells per site (seeded).
    model
        ``metadata["Model"]``: the feature prefix (``efficientnet_0``, ...).
    seed
        Base seed.
    """
    import numpy as np

    base = Path(root)
    index_dir = base / "inputs" / "metadata"
    profile_dir = base / "outputs" / "results" / "features"
    index_dir.mkdir(parents=True, exist_ok=True)
    plates = tuple(f"P{i + 1}" for i in range(n_plates))
    site_names = tuple(str(s + 1) for s in range(sites))
    rows = []
    for p, plate in enumerate(plates):
        (profile_dir / plate).mkdir(parents=True, exist_ok=True)
        for w, well in enumerate(wells):
            treatment = "DMSO" if w == 0 else f"cpd{w}"
            for site in site_names:
                key = f"{seed}/{plate}/{well}/{site}".encode()
                rng = np.random.default_rng(zlib.crc32(key))
                n = int(rng.integers(cells_per_site[0], cells_per_site[1] + 1))
                shift = 0.5 * w + 0.1 * p
                features = rng.normal(loc=shift, size=(n, n_features)).astype(np.float32)
                locations = rng.uniform(0, 1000, size=(n, 2))
                metadata = {
                    "Metadata_Plate": plate,
                    "Metadata_Well": well,
                    "Metadata_Site": site,
                    "Treatment": treatment,
                    "Model": model,
                }
                np.savez(
                    profile_dir / plate / f"{well}_{site}.npz",
                    features=features,
                    locations=locations,
                    metadata=np.array(metadata, dtype=object),
                )
                rows.append(
                    {
                        "Metadata_Plate": plate,
                        "Metadata_Well": well,
                        "Metadata_Site": site,
                        "Plate_Map_Name": f"map_{plate}",
                        "Treatment": treatment,
                        "DNA": f"{plate}/{well}_{site}_DNA.tif",
                    }
                )
    config_file = base / "inputs" / "config" / "config.json"
    config_file.parent.mkdir(parents=True, exist_ok=True)
    config = {
        "dataset": {"images": {"channels": ["DNA"]}, "locations": {"mode": "single_cells"}},
        "train": {"model": {"name": model, "crop_generator": "crop_generator"}},
        "profile": {"feature_layer": "block6a_activation", "batch_size": 32},
    }
    config_file.write_text(json.dumps(config, indent=2))
    index_file = index_dir / "index.csv"
    with index_file.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return DeepProfilerProject(
        root=base,
        index_file=index_file,
        config_file=config_file,
        profile_dir=profile_dir,
        plates=plates,
        wells=tuple(wells),
        sites=site_names,
        n_features=n_features,
        model=model,
    )

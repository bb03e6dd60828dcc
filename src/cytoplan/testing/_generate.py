"""Per-image value generation for the synthetic CellProfiler plates.

Every site image gets its own :class:`numpy.random.Generator`, seeded from
``(seed, plate, image index)``, so the values of an image never depend on the
output format, on which other images are written, or on batching.

Feature columns get a distribution from their index ``j`` (cycle of 10):

====  ==========================================================
j%10  kind
====  ==========================================================
0, 1  normal
2     lognormal (right-skewed)
3     normal with ~2 % nulls (column 13: ~10 % nulls)
4     Poisson counts
5     correlated copy of column ``j - 5`` (r > 0.9)
6     normal
7     near-constant (about 1 % of cells differ)
8     anti-correlated copy of column ``j - 2`` (r < -0.9)
9     lognormal with ~1 % nulls
====  ==========================================================

Treated wells are shifted (in units of each feature's standard deviation) by a
compound effect made of a shared mechanism-of-action part and a compound part;
positive controls get a strong dense effect; negative controls get no
treatment shift. Every well of a plate also carries a small plate effect.

Examples
--------
>>> from cytoplan.testing._generate import column_plan
>>> plan = column_plan(30)
>>> plan.corr_dst.tolist(), plan.corr_src.tolist()
([5, 8, 15, 18, 25, 28], [0, 6, 10, 16, 20, 26])
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

from cytoplan.testing._layout import MOAS, WellTreatment, grid_columns, plate_layout, well_names
from cytoplan.testing._names import CHANNELS, unprefixed_feature_names

if TYPE_CHECKING:
    from numpy.typing import NDArray

__all__ = [
    "CANONICAL_COMPARTMENTS",
    "ColumnPlan",
    "ObjectTable",
    "SiteImage",
    "column_plan",
    "generate_image",
    "table_number",
]

CANONICAL_COMPARTMENTS: tuple[str, ...] = ("Cells", "Cytoplasm", "Nuclei")

#: Side of the simulated image in pixels (object centres fall inside it).
IMAGE_SIZE = 1080.0
#: Every ``TEXT_NAN_EVERY``-th image stores one value as the TEXT 'nan' in SQLite.
TEXT_NAN_EVERY = 8
TEXT_NAN_OFFSET = 5
#: Column (within the first compartment) that holds the TEXT 'nan' cells.
TEXT_NAN_COLUMN = 1
TEN_PERCENT_NULL_COLUMN = 13
NEAR_CONSTANT_RATE = 0.01
_CORR_NOISE = 0.25


def _key(text: str) -> int:
    """Stable 63-bit integer from a string (Python's ``hash`` is salted)."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") >> 1


def table_number(plate: str, well: str, site: int) -> str:
    """The cytominer-database ``TableNumber`` of one site folder (an MD5 hex digest).

    Examples
    --------
    >>> table_number("BR00000001", "A01", 1)
    'b4ce37000bbd7e3c9afafbc761b052bc'
    """
    return hashlib.md5(f"{plate}-{well}-{site}".encode()).hexdigest()


@dataclass(frozen=True)
class ColumnPlan:
    """Distribution of each of ``n`` feature columns (see module docstring).

    Attributes hold column indices (``int64`` arrays) or per-column parameters
    (``float64`` arrays of length ``n``).
    """

    n: int
    normal: NDArray[np.int64]
    lognormal: NDArray[np.int64]
    poisson: NDArray[np.int64]
    near_constant: NDArray[np.int64]
    corr_dst: NDArray[np.int64]
    corr_src: NDArray[np.int64]
    corr_sign: NDArray[np.float64]
    null_cols: NDArray[np.int64]
    null_rate: NDArray[np.float64]
    mu: NDArray[np.float64]
    sd: NDArray[np.float64]
    log_sigma: NDArray[np.float64]
    lam: NDArray[np.float64]
    const: NDArray[np.float64]


@lru_cache(maxsize=16)
def column_plan(n: int) -> ColumnPlan:
    """Kinds and parameters of ``n`` feature columns, decided from the column index."""
    j = np.arange(n, dtype=np.int64)
    pos = j % 10
    corr_mask = (pos == 5) | (pos == 8)
    null_rate = np.where(pos == 3, 0.02, np.where(pos == 9, 0.01, 0.0))
    if n > TEN_PERCENT_NULL_COLUMN:
        null_rate[TEN_PERCENT_NULL_COLUMN] = 0.10
    mu = (1.0 + (j * 7) % 11) * 10.0 ** ((j % 4) - 1.0)
    return ColumnPlan(
        n=n,
        normal=j[np.isin(pos, (0, 1, 3, 6))],
        lognormal=j[(pos == 2) | (pos == 9)],
        poisson=j[pos == 4],
        near_constant=j[pos == 7],
        corr_dst=j[corr_mask],
        corr_src=np.where(pos[corr_mask] == 5, j[corr_mask] - 5, j[corr_mask] - 2),
        corr_sign=np.where(pos[corr_mask] == 5, 1.0, -1.0),
        null_cols=j[null_rate > 0],
        null_rate=null_rate[null_rate > 0],
        mu=mu,
        sd=mu * (0.1 + 0.05 * (j % 5)),
        log_sigma=(0.3 + 0.1 * (j % 3)).astype(np.float64),
        lam=(2.0 + 3.0 * (j % 9)).astype(np.float64),
        const=(j % 3).astype(np.float64),
    )


@lru_cache(maxsize=64)
def _treatment_effect(compound: int, compartment: str, n: int) -> NDArray[np.float64]:
    """Shift (in standard deviations) of a treatment; zero for DMSO (``compound == -1``)."""
    if compound == -1:
        return np.zeros(n)
    ckey = _key(compartment)
    if compound <= -2:
        rng = np.random.default_rng(np.random.SeedSequence([0x90C0, ckey, -compound]))
        return 2.0 * rng.standard_normal(n)
    moa_rng = np.random.default_rng(np.random.SeedSequence([0x30A, ckey, compound % len(MOAS)]))
    moa = moa_rng.standard_normal(n) * (moa_rng.random(n) < 0.4)
    own = np.random.default_rng(np.random.SeedSequence([0xC0, ckey, compound])).standard_normal(n)
    return 0.8 * moa + 0.3 * own


@lru_cache(maxsize=16)
def _plate_effect(seed: int, plate: str, compartment: str, n: int) -> NDArray[np.float64]:
    seq = np.random.SeedSequence([seed, _key(plate), _key(compartment), 0x91A7E])
    return 0.3 * np.random.default_rng(seq).standard_normal(n)


@dataclass(frozen=True)
class ObjectTable:
    """One compartment's objects in one image, with unprefixed column names.

    Attributes
    ----------
    compartment : str
        ``"Cells"``, ``"Cytoplasm"`` or ``"Nuclei"``.
    object_number : ndarray of int64
        ``1..m`` in row order.
    links : tuple of (str, ndarray)
        Linking and location columns (``Parent_Nuclei``, ``Location_Center_X``...).
    feature_names : tuple of str
        Unprefixed measurement names (``AreaShape_Area``...).
    features : ndarray of float64, shape (m, n)
        Values, NaN where missing.
    text_nan : tuple of (int, int)
        ``(row, feature column)`` cells stored as the TEXT ``'nan'`` in SQLite
        (NaN in ``features``).
    """

    compartment: str
    object_number: NDArray[np.int64]
    links: tuple[tuple[str, NDArray[np.int64] | NDArray[np.float64]], ...]
    feature_names: tuple[str, ...]
    features: NDArray[np.float64]
    text_nan: tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class SiteImage:
    """One site (field of view): image-level values and its object tables.

    Attributes
    ----------
    index : int
        0-based image index within the plate (wells row-major, then sites).
    plate, well : str
    site : int
        1-based site number.
    table_number : str
        cytominer-database ``TableNumber`` of this site folder.
    image_columns : tuple of (str, str | int | float)
        Unprefixed Image.csv columns after ``ImageNumber``, in order.
    objects : tuple of ObjectTable
        One per compartment, in the order of ``PlateSpec.compartments``.
    """

    index: int
    plate: str
    well: str
    site: int
    table_number: str
    image_columns: tuple[tuple[str, str | int | float], ...]
    objects: tuple[ObjectTable, ...]

    @property
    def cells_per_site(self) -> int:
        """Number of objects per compartment in this image."""
        return int(self.objects[0].object_number.size)

    def table(self, compartment: str) -> ObjectTable:
        """The object table of ``compartment``."""
        for table in self.objects:
            if table.compartment == compartment:
                return table
        msg = f"image {self.index} of plate {self.plate} has no compartment {compartment!r}"
        raise KeyError(msg)


def _draw_features(
    rng: np.random.Generator,
    m: int,
    plan: ColumnPlan,
    shift: NDArray[np.float64],
) -> NDArray[np.float64]:
    z = rng.standard_normal((m, plan.n))
    u_null = rng.random((m, plan.null_cols.size))
    cols = plan.poisson
    counts = rng.poisson(plan.lam[cols] * np.exp(0.25 * shift[cols]), (m, cols.size))
    rare = rng.random((m, plan.near_constant.size)) < NEAR_CONSTANT_RATE
    x = np.empty((m, plan.n))
    x[:, cols] = counts
    cols = plan.normal
    x[:, cols] = plan.mu[cols] + plan.sd[cols] * (z[:, cols] + shift[cols])
    cols = plan.lognormal
    x[:, cols] = plan.mu[cols] * np.exp(plan.log_sigma[cols] * (z[:, cols] + shift[cols]))
    cols = plan.near_constant
    x[:, cols] = plan.const[cols] + rare
    src, dst = plan.corr_src, plan.corr_dst
    standardized = (x[:, src] - plan.mu[src]) / plan.sd[src]
    x[:, dst] = plan.mu[dst] + plan.sd[dst] * (
        plan.corr_sign * 1.5 * standardized + _CORR_NOISE * z[:, dst]
    )
    x[:, plan.null_cols] = np.where(u_null < plan.null_rate, np.nan, x[:, plan.null_cols])
    return x


def _image_rng(seed: int, plate: str, index: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, _key(plate), index]))


def _links(
    compartment: str,
    present: tuple[str, ...],
    pi: NDArray[np.int64],
    sigma: NDArray[np.int64],
    xy: NDArray[np.float64],
) -> tuple[tuple[str, NDArray[np.int64] | NDArray[np.float64]], ...]:
    """Linking columns: cytoplasm ``k`` belongs to cell ``pi[k]`` and nucleus ``sigma[k]``."""
    m = pi.size
    ones = np.ones(m, dtype=np.int64)
    numbers = np.arange(1, m + 1, dtype=np.int64)
    out: list[tuple[str, NDArray[np.int64] | NDArray[np.float64]]] = []
    if compartment == "Cells":
        nucleus_of_cell = np.empty(m, dtype=np.int64)
        nucleus_of_cell[pi - 1] = sigma
        if "Nuclei" in present:
            out.append(("Parent_Nuclei", nucleus_of_cell))
        if "Cytoplasm" in present:
            out.append(("Children_Cytoplasm_Count", ones))
        out += [("Number_Object_Number", numbers)]
        out += [("Location_Center_X", xy[:, 0]), ("Location_Center_Y", xy[:, 1])]
    elif compartment == "Nuclei":
        if "Cells" in present:
            out.append(("Children_Cells_Count", ones))
        out += [("Location_Center_X", xy[:, 2]), ("Location_Center_Y", xy[:, 3])]
        out += [("Number_Object_Number", numbers)]
    else:
        if "Cells" in present:
            out.append(("Parent_Cells", pi))
        if "Nuclei" in present:
            out.append(("Parent_Nuclei", sigma))
        out += [("Number_Object_Number", numbers)]
    return tuple(out)


def _locations(
    rng: np.random.Generator, pi: NDArray[np.int64], sigma: NDArray[np.int64]
) -> NDArray[np.float64]:
    """Columns: cell x, cell y (by cell number), nucleus x, nucleus y (by nucleus number)."""
    m = pi.size
    cell_xy = rng.uniform(0.0, IMAGE_SIZE, (m, 2))
    jitter = rng.normal(0.0, 2.0, (m, 2))
    out = np.empty((m, 4))
    out[:, :2] = cell_xy
    out[sigma - 1, 2:] = np.clip(cell_xy[pi - 1] + jitter, 0.0, IMAGE_SIZE)
    return out


def _file_names(well_index: int, wells: int, site: int) -> list[tuple[str, str]]:
    cols = grid_columns(wells)
    row, col = divmod(well_index, cols)
    return [
        (
            f"FileName_Orig{ch}",
            f"r{row + 1:02d}c{col + 1:02d}f{site:02d}p01-ch{k + 1}sk1fk1fl1.tiff",
        )
        for k, ch in enumerate(CHANNELS)
    ]


def generate_image(
    *,
    seed: int,
    plate: str,
    wells: int,
    sites_per_well: int,
    cells_per_site: int,
    features_per_compartment: int,
    compartments: tuple[str, ...],
    index: int,
) -> SiteImage:
    """Generate image ``index`` of a plate (see :class:`SiteImage`)."""
    well_index, site0 = divmod(index, sites_per_well)
    treatment: WellTreatment = plate_layout(wells)[well_index]
    well = well_names(wells)[well_index]
    site = site0 + 1
    m, n = cells_per_site, features_per_compartment
    rng = _image_rng(seed, plate, index)
    pi = rng.permutation(m).astype(np.int64) + 1
    sigma = rng.permutation(m).astype(np.int64) + 1
    xy = _locations(rng, pi, sigma)
    plan = column_plan(n)
    tables: dict[str, ObjectTable] = {}
    first = next(c for c in CANONICAL_COMPARTMENTS if c in compartments)
    for compartment in CANONICAL_COMPARTMENTS:
        if compartment not in compartments:
            continue
        shift = _plate_effect(seed, plate, compartment, n) + _treatment_effect(
            treatment.compound, compartment, n
        )
        x = _draw_features(rng, m, plan, shift)
        text_nan: tuple[tuple[int, int], ...] = ()
        if compartment == first and index % TEXT_NAN_EVERY == TEXT_NAN_OFFSET and m and n:
            text_nan = ((0, min(TEXT_NAN_COLUMN, n - 1)),)
            x[0, text_nan[0][1]] = np.nan
        tables[compartment] = ObjectTable(
            compartment=compartment,
            object_number=np.arange(1, m + 1, dtype=np.int64),
            links=_links(compartment, compartments, pi, sigma, xy),
            feature_names=unprefixed_feature_names(compartment, n),
            features=x,
            text_nan=text_nan,
        )
    z = rng.standard_normal(4)
    effect = float(_treatment_effect(treatment.compound, "Image", 1)[0])
    image_columns: list[tuple[str, str | int | float]] = [
        ("Metadata_Plate", plate),
        ("Metadata_Well", well),
        ("Metadata_Site", str(site)),
    ]
    image_columns += [(f"Count_{c}", m) for c in compartments]
    image_columns += _file_names(well_index, wells, site)
    image_columns += [
        ("Granularity_1_DNA", 5.0 + 0.5 * (z[0] + effect)),
        ("ImageQuality_PowerLogLogSlope_DNA", -1.8 + 0.1 * z[1]),
        ("Threshold_OrigThreshold_DNA", 0.02 * float(np.exp(0.2 * z[2]))),
        ("Intensity_TotalIntensity_DNA", m * 150.0 * float(np.exp(0.2 * (z[3] + effect)))),
    ]
    return SiteImage(
        index=index,
        plate=plate,
        well=well,
        site=site,
        table_number=table_number(plate, well, site),
        image_columns=tuple(
            (k, float(v) if isinstance(v, np.floating) else v) for k, v in image_columns
        ),
        objects=tuple(tables[c] for c in compartments),
    )

"""CellProfiler-style measurement names for the synthetic plate generator.

Names follow CellProfiler's ``Object_Category_Feature_Parameters`` convention
(e.g. ``Nuclei_Texture_Variance_RNA_3_01_256``). The catalogue is built by
interleaving measurement families so that even a short list mixes shape,
intensity, texture, granularity, colocalization and radial-distribution
measurements.

Examples
--------
>>> from cytoplan.testing._names import feature_names
>>> feature_names("Cells", 4)  # doctest: +NORMALIZE_WHITESPACE
['Cells_AreaShape_Area', 'Cells_Intensity_MeanIntensity_DNA',
 'Cells_Texture_Variance_DNA_3_00_256', 'Cells_Granularity_1_DNA']
"""

from __future__ import annotations

from functools import lru_cache
from itertools import combinations, permutations
from typing import TYPE_CHECKING

from cytoplan.testing._errors import SyntheticDataError

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = [
    "CHANNELS",
    "MAX_FEATURES",
    "NUCLEI_BLOCKLISTED",
    "feature_names",
    "unprefixed_feature_names",
]

#: Cell Painting channels, in the order CellProfiler pipelines usually list them.
CHANNELS: tuple[str, ...] = ("DNA", "ER", "RNA", "AGP", "Mito")

#: Names in pycytominer's default blocklist placed early in the Nuclei list
#: (position in the list, unprefixed name), so ``n >= 30`` always includes them.
NUCLEI_BLOCKLISTED: tuple[tuple[int, str], ...] = (
    (11, "Correlation_Manders_AGP_DNA"),
    (23, "Granularity_14_AGP"),
)

_AREASHAPE = (
    "Area",
    "Eccentricity",
    "Perimeter",
    "FormFactor",
    "Solidity",
    "Extent",
    "MajorAxisLength",
    "MinorAxisLength",
    "Orientation",
    "Compactness",
    "MaxFeretDiameter",
    "MinFeretDiameter",
    "MeanRadius",
    "MaximumRadius",
    "MedianRadius",
    "EulerNumber",
    "BoundingBoxArea",
    "Center_X",
    "Center_Y",
)
_INTENSITY = (
    "MeanIntensity",
    "IntegratedIntensity",
    "StdIntensity",
    "MedianIntensity",
    "MaxIntensity",
    "MinIntensity",
    "MADIntensity",
    "LowerQuartileIntensity",
    "UpperQuartileIntensity",
    "MeanIntensityEdge",
    "IntegratedIntensityEdge",
    "StdIntensityEdge",
    "MaxIntensityEdge",
    "MinIntensityEdge",
    "MassDisplacement",
)
_TEXTURE = (
    "Variance",
    "Contrast",
    "Entropy",
    "AngularSecondMoment",
    "Correlation",
    "DifferenceEntropy",
    "DifferenceVariance",
    "InfoMeas1",
    "InfoMeas2",
    "InverseDifferenceMoment",
    "SumAverage",
    "SumEntropy",
    "SumVariance",
)
_TEXTURE_SCALES = (3, 5, 10, 20)
_TEXTURE_ANGLES = ("00", "01", "02", "03")
#: Gray levels: 256 first (what JUMP uses), then others, giving a practically
#: unlimited supply of distinct texture names for very wide benchmark plates.
_TEXTURE_LEVELS = (256, 64, 128, 32, 16, 8, *range(2, 256))
_RADIAL = ("FracAtD", "MeanFrac", "RadialCV")
_LOCATION = (
    "CenterMassIntensity_X",
    "CenterMassIntensity_Y",
    "MaxIntensity_X",
    "MaxIntensity_Y",
)
_NEIGHBORS = (
    "NumberOfNeighbors",
    "PercentTouching",
    "FirstClosestDistance",
    "SecondClosestDistance",
    "AngleBetweenNeighbors",
)
_NEIGHBOR_DISTANCES = ("Adjacent", "5", "10")

#: Upper bound on ``n`` accepted by :func:`feature_names`.
MAX_FEATURES = 100_000


def _zernike() -> list[tuple[int, int]]:
    return [(n, m) for n in range(10) for m in range(n + 1) if (n - m) % 2 == 0]


def _areashape() -> Iterator[str]:
    yield from (f"AreaShape_{name}" for name in _AREASHAPE)
    yield from (f"AreaShape_Zernike_{n}_{m}" for n, m in _zernike())


def _intensity() -> Iterator[str]:
    for stat in _INTENSITY:
        yield from (f"Intensity_{stat}_{ch}" for ch in CHANNELS)


def _texture() -> Iterator[str]:
    for levels in dict.fromkeys(_TEXTURE_LEVELS):
        for scale in _TEXTURE_SCALES:
            for angle in _TEXTURE_ANGLES:
                for stat in _TEXTURE:
                    for ch in CHANNELS:
                        yield f"Texture_{stat}_{ch}_{scale}_{angle}_{levels}"


def _granularity() -> Iterator[str]:
    for scale in range(1, 17):
        yield from (f"Granularity_{scale}_{ch}" for ch in CHANNELS)


def _correlation() -> Iterator[str]:
    pairs = list(combinations(CHANNELS, 2))
    ordered = list(permutations(CHANNELS, 2))
    yield from (f"Correlation_Correlation_{a}_{b}" for a, b in pairs)
    yield from (f"Correlation_K_{a}_{b}" for a, b in ordered)
    yield from (f"Correlation_Overlap_{a}_{b}" for a, b in pairs)
    yield from (f"Correlation_Manders_{a}_{b}" for a, b in ordered)
    yield from (f"Correlation_RWC_{a}_{b}" for a, b in ordered)
    yield from (f"Correlation_Costes_{a}_{b}" for a, b in ordered)


def _radial() -> Iterator[str]:
    for stat in _RADIAL:
        for ch in CHANNELS:
            yield from (f"RadialDistribution_{stat}_{ch}_{k}of4" for k in range(1, 5))
    for kind in ("ZernikeMagnitude", "ZernikePhase"):
        for ch in CHANNELS:
            yield from (f"RadialDistribution_{kind}_{ch}_{n}_{m}" for n, m in _zernike())


def _location_neighbors() -> Iterator[str]:
    for stat in _LOCATION:
        yield from (f"Location_{stat}_{ch}" for ch in CHANNELS)
    for stat in _NEIGHBORS:
        yield from (f"Neighbors_{stat}_{d}" for d in _NEIGHBOR_DISTANCES)


def _interleaved() -> Iterator[str]:
    """Round-robin over the families until every family is exhausted."""
    families = [
        _areashape(),
        _intensity(),
        _texture(),
        _granularity(),
        _correlation(),
        _radial(),
        _location_neighbors(),
    ]
    while families:
        alive = []
        for family in families:
            name = next(family, None)
            if name is not None:
                alive.append(family)
                yield name
        families = alive


@lru_cache(maxsize=16)
def _unprefixed(compartment: str, n: int) -> tuple[str, ...]:
    names: dict[str, None] = {}
    if compartment == "Nuclei":
        forced = dict(NUCLEI_BLOCKLISTED)
        stream = (name for name in _interleaved() if name not in forced.values())
        position = 0
        while len(names) < n:
            name = forced.get(position)
            names[name if name is not None else next(stream)] = None
            position += 1
    else:
        for name in _interleaved():
            if len(names) >= n:
                break
            names[name] = None
    return tuple(names)


def unprefixed_feature_names(compartment: str, n: int) -> tuple[str, ...]:
    """:func:`feature_names` without the compartment prefix (as in CellProfiler CSVs).

    Examples
    --------
    >>> unprefixed_feature_names("Cells", 2)
    ('AreaShape_Area', 'Intensity_MeanIntensity_DNA')
    """
    _check_names_args(compartment, n)
    return _unprefixed(compartment, n)


def _check_names_args(compartment: str, n: int) -> None:
    if not compartment or not compartment.isidentifier():
        msg = f"compartment must be a non-empty identifier such as 'Cells', got {compartment!r}"
        raise SyntheticDataError(msg)
    if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n <= MAX_FEATURES:
        msg = f"n must be an integer between 0 and {MAX_FEATURES}, got {n!r}"
        raise SyntheticDataError(msg)


def feature_names(compartment: str, n: int) -> list[str]:
    """Return ``n`` distinct CellProfiler measurement names for a compartment.

    The list is deterministic and prefix-stable: ``feature_names(c, k)`` is the
    first ``k`` names of ``feature_names(c, n)`` for ``k <= n``. For ``Nuclei``
    and ``n >= 30`` it contains names from pycytominer's default blocklist
    (``Nuclei_Correlation_Manders_AGP_DNA``, ``Nuclei_Granularity_14_AGP``).

    Parameters
    ----------
    compartment : str
        Object name used as the prefix, e.g. ``"Cells"``.
    n : int
        Number of names, ``0 <= n <= MAX_FEATURES``.

    Returns
    -------
    list of str
        Names such as ``Cells_AreaShape_Area``.

    Raises
    ------
    SyntheticDataError
        If ``n`` is out of range or ``compartment`` is empty.

    Examples
    --------
    >>> feature_names("Nuclei", 30)[11]
    'Nuclei_Correlation_Manders_AGP_DNA'
    >>> len(set(feature_names("Cytoplasm", 2000)))
    2000
    """
    return [f"{compartment}_{name}" for name in unprefixed_feature_names(compartment, n)]

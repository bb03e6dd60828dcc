"""The plate specification of the synthetic generator and image iteration."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cytoplan.testing._errors import SyntheticDataError
from cytoplan.testing._generate import CANONICAL_COMPARTMENTS, SiteImage, generate_image
from cytoplan.testing._layout import MAX_WELLS, plate_layout, well_names
from cytoplan.testing._names import MAX_FEATURES

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["PlateSpec", "iter_images"]

_PLATE_NAME = re.compile(r"^[A-Za-z0-9_.]+$")


@dataclass(frozen=True)
class PlateSpec:
    """Shape and seed of one synthetic CellProfiler plate.

    Wells are laid out row-major on a plate grid (6 columns up to 24 wells,
    12 up to 96, 24 up to 384, 48 beyond), so 24 wells are ``A01..D06``.

    Parameters
    ----------
    plate : str
        Plate barcode (letters, digits, ``_`` and ``.``), e.g. ``"BR00000001"``.
    wells : int, default 24
        Number of wells, 1 to 1536.
    sites_per_well : int, default 2
        Fields of view per well.
    cells_per_site : int, default 8
        Objects per compartment in every image.
    features_per_compartment : int, default 30
        Measurement columns per compartment (linking and location columns come
        on top of these).
    seed : int, default 0
        Non-negative seed; each image is seeded from ``(seed, plate, image index)``.
    compartments : tuple of str, default ("Cells", "Cytoplasm", "Nuclei")
        A subset of the three canonical compartments, in output order.

    Examples
    --------
    >>> spec = PlateSpec("BR00000001")
    >>> spec.n_images, spec.n_cells, spec.wells_list()[-1]
    (48, 384, 'D06')
    >>> spec.negcon_wells()
    ['A01', 'A05', 'B04', 'C03', 'D02', 'D06']
    """

    plate: str
    wells: int = 24
    sites_per_well: int = 2
    cells_per_site: int = 8
    features_per_compartment: int = 30
    seed: int = 0
    compartments: tuple[str, ...] = CANONICAL_COMPARTMENTS

    def __post_init__(self) -> None:
        if not isinstance(self.plate, str) or not _PLATE_NAME.match(self.plate):
            msg = (
                f"plate must be letters, digits, '_' or '.', e.g. 'BR00000001'; got {self.plate!r}"
            )
            raise SyntheticDataError(msg)
        _check_range("wells", self.wells, 1, MAX_WELLS)
        _check_range("sites_per_well", self.sites_per_well, 1, 10_000)
        _check_range("cells_per_site", self.cells_per_site, 1, 1_000_000)
        _check_range("features_per_compartment", self.features_per_compartment, 1, MAX_FEATURES)
        _check_range("seed", self.seed, 0, 2**63 - 1)
        comps = tuple(self.compartments)
        unknown = [c for c in comps if c not in CANONICAL_COMPARTMENTS]
        if not comps or unknown or len(set(comps)) != len(comps):
            msg = (
                "compartments must be distinct names among "
                f"{CANONICAL_COMPARTMENTS}, got {self.compartments!r}"
            )
            raise SyntheticDataError(msg)
        object.__setattr__(self, "compartments", comps)

    @property
    def n_images(self) -> int:
        """Number of site images (``wells * sites_per_well``)."""
        return self.wells * self.sites_per_well

    @property
    def n_cells(self) -> int:
        """Number of objects per compartment on the plate."""
        return self.n_images * self.cells_per_site

    def wells_list(self) -> list[str]:
        """Well positions in plate order (``A01, A02, ...``)."""
        return well_names(self.wells)

    def negcon_wells(self) -> list[str]:
        """Wells holding the negative control (DMSO), in plate order."""
        return [w.well for w in plate_layout(self.wells) if w.control_type == "negcon"]

    def poscon_wells(self) -> list[str]:
        """Wells holding a positive control, in plate order."""
        return [w.well for w in plate_layout(self.wells) if w.control_type == "poscon"]

    def image(self, index: int) -> SiteImage:
        """Generate image ``index`` (0-based; wells row-major, then sites).

        Examples
        --------
        >>> img = PlateSpec("P1").image(3)
        >>> img.well, img.site, img.objects[0].features.shape
        ('A02', 2, (8, 30))
        """
        if not 0 <= index < self.n_images:
            msg = (
                f"image index must be in 0..{self.n_images - 1} for plate {self.plate}, got {index}"
            )
            raise SyntheticDataError(msg)
        return generate_image(
            seed=self.seed,
            plate=self.plate,
            wells=self.wells,
            sites_per_well=self.sites_per_well,
            cells_per_site=self.cells_per_site,
            features_per_compartment=self.features_per_compartment,
            compartments=self.compartments,
            index=index,
        )


def _check_range(name: str, value: object, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        msg = f"{name} must be an integer between {low} and {high}, got {value!r}"
        raise SyntheticDataError(msg)


def iter_images(spec: PlateSpec, start: int = 0, stop: int | None = None) -> Iterator[SiteImage]:
    """Generate the images ``start..stop-1`` of a plate, one at a time.

    Parameters
    ----------
    spec : PlateSpec
    start, stop : int
        Image index range (``stop=None``: to the last image).

    Yields
    ------
    SiteImage

    Examples
    --------
    >>> [img.well for img in iter_images(PlateSpec("P1"), 0, 4)]
    ['A01', 'A01', 'A02', 'A02']
    """
    end = spec.n_images if stop is None else min(stop, spec.n_images)
    for index in range(max(start, 0), end):
        yield spec.image(index)

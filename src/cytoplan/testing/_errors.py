"""Error raised by the synthetic data generator on bad arguments."""

from __future__ import annotations

from cytoplan.exceptions import CytoplanError

__all__ = ["SyntheticDataError"]


class SyntheticDataError(CytoplanError, ValueError):
    """A synthetic plate was asked for with invalid arguments (e.g. ``wells=0``).

    Examples
    --------
    >>> from cytoplan.testing.synthetic import PlateSpec
    >>> PlateSpec("P1", wells=0)
    Traceback (most recent call last):
    ...
    cytoplan.testing._errors.SyntheticDataError: wells must be an integer between 1 and 1536, got 0
    """

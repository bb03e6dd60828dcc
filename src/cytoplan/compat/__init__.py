"""Compatibility layers for code written against other profiling libraries.

:mod:`cytoplan.compat.pycytominer` is pycytominer 1.7.1's public surface (pandas in,
pandas out, same names, signatures, defaults and quirks) computed by cytoplan's lazy
engine. pandas is imported only inside this package.
"""

from __future__ import annotations

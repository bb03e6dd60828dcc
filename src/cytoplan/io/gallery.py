"""The Cell Painting Gallery's layout: batches, plates and the paths of a plate's files.

The gallery (``s3://cellpainting-gallery``, public, read anonymously) stores
each dataset as ``<project>/<source>/workspace/`` (older projects have no
source level: ``<project>/workspace/``)::

    workspace/
      backend/<batch>/<plate>/<plate>.sqlite            single cells (CellProfiler)
      profiles/<batch>/<plate>/<plate>[_<level>].{parquet,csv.gz}
      load_data_csv/<batch>/<plate>/load_data[_with_illum].csv[.gz]
      metadata/platemaps/<batch>/barcode_platemap.csv
      metadata/platemaps/<batch>/platemap/<platemap>.txt
      metadata/external_metadata/external_metadata.tsv

:class:`Gallery` builds those URLs, lists batches and plates (one listing
request each), and scans profiles lazily (one plate, or every plate of a batch
with a glob) through :func:`cytoplan.io.profiles.scan_profiles`.

Examples
--------
>>> jump = Gallery("cpg0016-jump", "source_4")
>>> jump.profiles_path("2021_04_26_Batch1", "BR00117035")
's3://cellpainting-gallery/cpg0016-jump/source_4/workspace/profiles/2021_04_26_Batch1/BR00117035/BR00117035.parquet'
>>> jump.sqlite_path("2021_04_26_Batch1", "BR00117035").rsplit("/", 3)[1:]
['2021_04_26_Batch1', 'BR00117035', 'BR00117035.sqlite']
>>> Gallery("cpg0004-lincs", "broad").profiles_path(
...     "2016_04_01_a549_48hr_batch1", "SQ00014812", level="normalized_feature_select_negcon",
...     suffix=".csv.gz",
... ).rsplit("/", 1)[1]
'SQ00014812_normalized_feature_select_negcon.csv.gz'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Literal

from cytoplan.exceptions import SourceError
from cytoplan.io import remote

if TYPE_CHECKING:
    import polars as pl

    from cytoplan.io._remote_sqlite import TableInfo

__all__ = ["Gallery"]

Area = Literal["profiles", "backend", "load_data_csv", "analysis", "platemaps"]
_AREAS: dict[str, str] = {
    "profiles": "profiles",
    "backend": "backend",
    "load_data_csv": "load_data_csv",
    "analysis": "analysis",
    "platemaps": "metadata/platemaps",
}


@dataclass(frozen=True)
class Gallery:
    """One dataset of the Cell Painting Gallery (or a bucket laid out the same way).

    Parameters
    ----------
    project : str
        ``cpg0016-jump``, ``cpg0004-lincs``, ...
    source : str or None
        ``source_4``, ``broad``, ...; None when the project has no source level.
    bucket : str
        ``cellpainting-gallery`` by default (read anonymously).
    storage_options : mapping, optional
        Endpoint, region, credentials (see
        :func:`cytoplan.io.remote.storage_options_for`).
    """

    project: str
    source: str | None = None
    bucket: str = remote.GALLERY_BUCKET
    storage_options: Mapping[str, object] | None = field(default=None, compare=False)

    # ------------------------------------------------------------------ paths
    @property
    def workspace(self) -> str:
        """``s3://<bucket>/<project>[/<source>]/workspace``."""
        parts = [self.bucket, self.project, *([self.source] if self.source else []), "workspace"]
        return "s3://" + "/".join(parts)

    def profiles_path(
        self, batch: str, plate: str, *, level: str | None = None, suffix: str = ".parquet"
    ) -> str:
        """A plate's profiles: ``profiles/<batch>/<plate>/<plate>[_<level>]<suffix>``.

        ``level`` is a profiling-recipe level such as ``"augmented"``,
        ``"normalized"`` or ``"normalized_feature_select_negcon_batch"``
        (those files are ``.csv.gz``); JUMP's per-plate files are
        ``<plate>.parquet``.
        """
        name = plate + (f"_{level}" if level else "") + suffix
        return f"{self.workspace}/profiles/{batch}/{plate}/{name}"

    def sqlite_path(self, batch: str, plate: str) -> str:
        """A plate's single-cell SQLite file: ``backend/<batch>/<plate>/<plate>.sqlite``."""
        return f"{self.workspace}/backend/{batch}/{plate}/{plate}.sqlite"

    def load_data_path(
        self, batch: str, plate: str, *, illum: bool = False, compressed: bool = False
    ) -> str:
        """``load_data_csv/<batch>/<plate>/load_data[_with_illum].csv[.gz]``."""
        name = "load_data_with_illum" if illum else "load_data"
        return f"{self.workspace}/load_data_csv/{batch}/{plate}/{name}.csv" + (
            ".gz" if compressed else ""
        )

    def barcode_platemap_path(self, batch: str) -> str:
        """``metadata/platemaps/<batch>/barcode_platemap.csv``."""
        return f"{self.workspace}/metadata/platemaps/{batch}/barcode_platemap.csv"

    def platemap_path(self, batch: str, platemap: str) -> str:
        """``metadata/platemaps/<batch>/platemap/<platemap>.txt``."""
        return f"{self.workspace}/metadata/platemaps/{batch}/platemap/{platemap}.txt"

    def external_metadata_path(self, name: str = "external_metadata.tsv") -> str:
        """``metadata/external_metadata/<name>``."""
        return f"{self.workspace}/metadata/external_metadata/{name}"

    # ------------------------------------------------------------------ listings
    def _children(self, prefix: str) -> list[str]:
        fs = remote.filesystem(prefix, self.storage_options)
        entries = remote.retrying(lambda: fs.ls(prefix, detail=True), url=prefix, action="list")
        names = sorted(
            str(entry["name"]).rstrip("/").rsplit("/", 1)[-1]
            for entry in entries
            if entry.get("type") == "directory"
        )
        if not names:
            msg = f"nothing under {prefix!r}; check the project, source and batch names"
            raise SourceError(msg)
        return names

    def batches(self, area: Area = "profiles") -> list[str]:
        """The batch folders under ``workspace/<area>/`` (``profiles`` by default)."""
        if area not in _AREAS:
            msg = f"area must be one of {sorted(_AREAS)}, got {area!r}"
            raise SourceError(msg)
        return self._children(f"{self.workspace}/{_AREAS[area]}/")

    def plates(self, batch: str, area: Area = "profiles") -> list[str]:
        """The plate folders of ``batch`` under ``workspace/<area>/<batch>/``."""
        if area == "platemaps":
            return sorted(self.barcode_platemap(batch)["Assay_Plate_Barcode"].to_list())
        return self._children(f"{self.workspace}/{_AREAS[area]}/{batch}/")

    # ------------------------------------------------------------------ tables
    def scan_profiles(
        self,
        batch: str,
        plates: str | Sequence[str] = "*",
        *,
        level: str | None = None,
        suffix: str = ".parquet",
    ) -> pl.LazyFrame:
        """Profiles of one plate, some plates, or (``"*"``) every plate of a batch, lazily.

        Parquet profiles are scanned with projection and predicate pushdown:
        only the columns and row groups a query needs are fetched.
        """
        from cytoplan.io.profiles import scan_profiles

        if isinstance(plates, str):
            return scan_profiles(
                self.profiles_path(batch, plates, level=level, suffix=suffix),
                storage_options=_plain(self.storage_options),
            )
        paths = [self.profiles_path(batch, p, level=level, suffix=suffix) for p in plates]
        if suffix != ".parquet":
            import polars as pl

            return pl.concat(
                [scan_profiles(p, storage_options=_plain(self.storage_options)) for p in paths],
                how="diagonal_relaxed",
            )
        return scan_profiles(paths, storage_options=_plain(self.storage_options))

    def barcode_platemap(self, batch: str) -> pl.DataFrame:
        """``barcode_platemap.csv`` of ``batch`` (``Assay_Plate_Barcode``, ``Plate_Map_Name``)."""
        from cytoplan.io.profiles import read_text_table

        url = self.barcode_platemap_path(batch)
        return read_text_table(url, storage_options=_plain(self.storage_options)).collect()

    def platemap(self, batch: str, plate: str) -> pl.LazyFrame:
        """The platemap of ``plate`` (looked up in the batch's ``barcode_platemap.csv``)."""
        from cytoplan.io.profiles import read_text_table

        table = self.barcode_platemap(batch)
        names = table.filter(table["Assay_Plate_Barcode"] == plate)["Plate_Map_Name"].to_list()
        if len(names) != 1:
            msg = (
                f"plate {plate!r} has {len(names)} entries in "
                f"{self.barcode_platemap_path(batch)!r}; expected exactly one"
            )
            raise SourceError(msg)
        return read_text_table(
            self.platemap_path(batch, names[0]), storage_options=_plain(self.storage_options)
        )

    def sqlite_tables(self, batch: str, plate: str) -> list[TableInfo]:
        """Tables, columns and row counts (``max(rowid)``) of a plate's SQLite file.

        Read with ranged requests (needs ``apsw``): a few hundred KB, whatever the
        file's size. Scan the cells with
        :func:`cytoplan.io.sqlite.scan_cellprofiler_sqlite` on :meth:`sqlite_path`
        (downloaded once into the cache).
        """
        from cytoplan.io._remote_sqlite import sqlite_tables

        tables, _ = sqlite_tables(self.sqlite_path(batch, plate), self.storage_options)
        return tables

    def load_data(self, batch: str, plate: str, *, illum: bool = False) -> pl.LazyFrame:
        """A plate's ``load_data[_with_illum].csv`` (``.csv.gz`` tried first), all text."""
        from cytoplan.io.profiles import read_text_table

        fs = remote.filesystem(self.workspace, self.storage_options)
        for compressed in (True, False):
            url = self.load_data_path(batch, plate, illum=illum, compressed=compressed)
            if remote.retrying(partial(fs.exists, url), url=url):
                return read_text_table(url, storage_options=_plain(self.storage_options))
        msg = f"no load_data CSV at {self.load_data_path(batch, plate, illum=illum)!r}[.gz]"
        raise SourceError(msg)


def _plain(options: Mapping[str, object] | None) -> dict[str, str] | None:
    if options is None:
        return None
    return {k: (str(v).lower() if isinstance(v, bool) else str(v)) for k, v in options.items()}

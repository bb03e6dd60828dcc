"""pycytominer's ``cyto_utils.cell_locations.CellLocation`` on :mod:`cytoplan.io.cell_locations`.

S3 inputs go through cytoplan's object-store access (anonymous by default, as
pycytominer's unsigned boto3 client), not boto3.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pandas as pd
import polars as pl

from cytoplan.compat.pycytominer._frames import pycytominer_errors
from cytoplan.io import cell_locations as _io

__all__ = ["CellLocation"]


def _expand(obj: Any) -> Any:
    if isinstance(obj, str) and not obj.startswith("s3://"):
        return str(Path(obj).expanduser())
    return obj


class CellLocation:
    """Add the nuclei centres of each image (``CellCenters``) to a LoadData table.

    Examples
    --------
    See :mod:`cytoplan.io.cell_locations`; ``CellLocation(meta, "plate.sqlite")
    .add_cell_location()`` returns the augmented frame (or writes Parquet when
    ``augmented_metadata_output`` is given).
    """

    def __init__(
        self,
        metadata_input: str | pd.DataFrame,
        single_cell_input: str,
        augmented_metadata_output: str | None = None,
        overwrite: bool = False,
        image_column: str = "ImageNumber",
        object_column: str = "ObjectNumber",
        table_column: str = "TableNumber",
        image_key: list[str] = ["Metadata_Plate", "Metadata_Well", "Metadata_Site"],  # noqa: B006
        cell_x_loc: str = "Nuclei_Location_Center_X",
        cell_y_loc: str = "Nuclei_Location_Center_Y",
    ) -> None:
        warnings.warn(
            "The CellLocation class is deprecated and will be removed in a future "
            "Pycytominer release.",
            DeprecationWarning,
            stacklevel=2,
        )
        self.metadata_input = _expand(metadata_input)
        self.augmented_metadata_output = _expand(augmented_metadata_output)
        self.single_cell_input = _expand(single_cell_input)
        self.overwrite = overwrite
        self.image_column = image_column
        self.object_column = object_column
        self.table_column = table_column
        self.image_key = image_key
        self.cell_x_loc = cell_x_loc
        self.cell_y_loc = cell_y_loc

    def _load_metadata(self) -> pd.DataFrame:
        if isinstance(self.metadata_input, pd.DataFrame):
            df = self.metadata_input
        else:
            text = str(self.metadata_input)
            if not text.endswith((".csv", ".parquet")):
                msg = "Metadata file must be a CSV or a Parquet file"
                raise ValueError(msg)
            options = {"anon": True} if text.startswith("s3://") else None
            if text.endswith(".csv"):
                df = pd.read_csv(text, dtype=str, storage_options=options)
            else:
                df = pd.read_parquet(text, storage_options=options)
            df = df.astype(str)
        if not all(key in df.columns for key in self.image_key):
            msg = f"Image index columns {self.image_key} are not present in the metadata file"
            raise ValueError(msg)
        return df

    def add_cell_location(self) -> pd.DataFrame | str:
        """The metadata with ``ImageNumber``, ``TableNumber`` and ``CellCenters`` (left join)."""
        out_path = self.augmented_metadata_output
        if isinstance(out_path, str) and not self.overwrite and Path(out_path).exists():
            return out_path
        if not str(self.single_cell_input).endswith(".sqlite"):
            msg = "single_cell file must be a SQLite file"
            raise ValueError(msg)
        metadata = self._load_metadata()
        options = {"anon": True} if str(self.single_cell_input).startswith("s3://") else None
        with pycytominer_errors():
            cells = _io.cell_locations(
                self.single_cell_input,
                image_key=self.image_key,
                image_column=self.image_column,
                object_column=self.object_column,
                table_column=self.table_column,
                cell_x_loc=self.cell_x_loc,
                cell_y_loc=self.cell_y_loc,
                storage_options=options,
            )
        cells_pd = cells.with_columns(pl.col(_io.CELL_CENTERS)).to_pandas()
        cells_pd[_io.CELL_CENTERS] = [
            list(value) for value in cells.get_column(_io.CELL_CENTERS).to_list()
        ]
        merged = pd.merge(metadata, cells_pd, on=self.image_key, how="left")
        if out_path is not None:
            merged.to_parquet(out_path, index=False)
            return str(out_path)
        return merged

"""``cytoplan cell-locations METADATA SQLITE OUTPUT``: add nuclei centres to a LoadData table."""

from __future__ import annotations

import click

from cytoplan.cli._common import echo, quiet_option, reports_errors, split_list


@click.command("cell-locations")
@click.argument("metadata")
@click.argument("single_cell")
@click.argument("output", type=click.Path(dir_okay=False))
@click.option("--overwrite", is_flag=True, help="Replace OUTPUT if it exists (else keep it).")
@click.option(
    "--image-key",
    default="Metadata_Plate,Metadata_Well,Metadata_Site",
    help="Columns identifying an image in both tables.",
)
@click.option("--cell-x-loc", default="Nuclei_Location_Center_X")
@click.option("--cell-y-loc", default="Nuclei_Location_Center_Y")
@click.option("--anon", is_flag=True, help="Anonymous access to s3:// inputs.")
@quiet_option
@reports_errors
def cell_locations_command(
    metadata: str,
    single_cell: str,
    output: str,
    overwrite: bool,
    image_key: str,
    cell_x_loc: str,
    cell_y_loc: str,
    anon: bool,
    quiet: bool,
) -> None:
    """Add each image's cell centres (CellCenters) to a LoadData CSV/Parquet, as Parquet.

    METADATA and SINGLE_CELL may be local paths or s3:// URLs.

    \b
    Example:
      cytoplan cell-locations load_data.csv BR00000001.sqlite load_data_with_cells.parquet
    """
    from cytoplan.exceptions import ParameterError
    from cytoplan.io.cell_locations import add_cell_locations

    if not output.lower().rstrip("/").endswith(".parquet"):
        # CellCenters is a list per image, which only Parquet holds
        msg = f"OUTPUT {output!r} must be named .parquet (cell locations are written as Parquet)"
        raise ParameterError(msg)
    written = add_cell_locations(
        metadata,
        single_cell,
        output=output,
        overwrite=overwrite,
        image_key=split_list(image_key) or [],
        cell_x_loc=cell_x_loc,
        cell_y_loc=cell_y_loc,
        storage_options={"anon": True} if anon else None,
    )
    echo(f"wrote {written}", quiet=quiet)

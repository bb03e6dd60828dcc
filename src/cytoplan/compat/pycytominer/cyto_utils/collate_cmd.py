"""pycytominer's ``collate_cmd``: ``python -m cytoplan.compat.pycytominer.cyto_utils.collate_cmd``.

The same arguments as pycytominer's script (note the CLI's default image feature
categories include ``Count``, the function's do not); ``cytoplan collate`` is the
native command.
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Sequence

from cytoplan.compat.pycytominer.cyto_utils.collate import collate

__all__ = ["main", "parser"]


def parser() -> argparse.ArgumentParser:
    """The argument parser (pycytominer's options)."""
    p = argparse.ArgumentParser(description="Collate CSVs")
    p.add_argument("batch", help="Batch name to process")
    p.add_argument("config", help="Config file (accepted, not used: no cytominer-database)")
    p.add_argument("plate", help="Plate name to process")
    p.add_argument("--base", "--base-directory", dest="base_directory", default="../..")
    p.add_argument("--column", default=None)
    p.add_argument("--munge", action="store_true", default=False)
    p.add_argument("--csv-dir", dest="csv_dir", default="analysis")
    p.add_argument("--aws-remote", dest="aws_remote", default=None)
    p.add_argument("--aggregate-only", dest="aggregate_only", action="store_true", default=False)
    p.add_argument("--tmp-dir", dest="tmp_dir", default=tempfile.gettempdir())
    p.add_argument("--overwrite", action="store_true", default=False)
    p.add_argument(
        "--dont-add-image-features", dest="add_image_features", action="store_false", default=True
    )
    p.add_argument(
        "--image-feature-categories",
        dest="image_feature_categories",
        type=lambda s: list(s.split(",")),
        default="Granularity,Texture,ImageQuality,Count,Threshold",
    )
    p.add_argument("--dont-print", dest="printtoscreen", action="store_false", default=True)
    return p


def main(argv: Sequence[str] | None = None) -> None:
    """Parse ``argv`` and run :func:`collate`."""
    args = parser().parse_args(argv)
    categories = args.image_feature_categories
    if isinstance(categories, str):
        categories = categories.split(",")
    collate(
        args.batch,
        args.config,
        args.plate,
        base_directory=args.base_directory,
        column=args.column,
        munge=args.munge,
        csv_dir=args.csv_dir,
        aws_remote=args.aws_remote,
        aggregate_only=args.aggregate_only,
        tmp_dir=args.tmp_dir,
        overwrite=args.overwrite,
        add_image_features=args.add_image_features,
        image_feature_categories=categories,
        printtoscreen=args.printtoscreen,
    )


if __name__ == "__main__":
    main()

"""LinkSpec validation and the pycytominer naming rules of resolve_layout (no files)."""

from __future__ import annotations

import pytest

from cytoplan import LinkSpec
from cytoplan.exceptions import ColumnNotFoundError, SchemaError, SourceError
from cytoplan.io.cellprofiler import DEFAULT_LINKING_COLUMNS, TableInfo, resolve_layout


def _tables(table_number: bool = True, prefix: str = "") -> dict[str, TableInfo]:
    keys = ("TableNumber", "ImageNumber") if table_number else ("ImageNumber",)
    meta = "Metadata" if not prefix else "Image_Metadata"
    return {
        f"{prefix}Image": TableInfo(
            f"{prefix}Image",
            (*keys, f"{meta}_Plate", f"{meta}_Well", f"{meta}_Site", "Count_Cells"),
        ),
        f"{prefix}Cytoplasm": TableInfo(
            f"{prefix}Cytoplasm",
            (
                *keys,
                "ObjectNumber",
                "Cytoplasm_Parent_Cells",
                "Cytoplasm_Parent_Nuclei",
                "Cytoplasm_A",
            ),
        ),
        f"{prefix}Cells": TableInfo(
            f"{prefix}Cells", (*keys, "ObjectNumber", "Cells_Parent_Nuclei", "Cells_A")
        ),
        f"{prefix}Nuclei": TableInfo(f"{prefix}Nuclei", (*keys, "ObjectNumber", "Nuclei_A")),
    }


def test_defaults_are_pycytominers() -> None:
    spec = LinkSpec()
    assert spec.linking == DEFAULT_LINKING_COLUMNS
    assert spec.hub == "cytoplasm"
    assert hash(spec) == hash(LinkSpec())


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"compartments": ("cells", "cytoplasm")}, "nuclei compartment not found"),
        (
            {"linking_columns": {"cytoplasm": {"cells": "Cytoplasm_Parent_Cells"}}},
            "Missing column identifier between cells-cytoplasm",
        ),
        (
            {"compartments": ("cytoplasm", "cells", "nuclei", "speckles")},
            "All compartments must be specified",
        ),
        ({"orphans": "ignore"}, "orphans must be"),
        ({"merge_columns": ()}, "merge_columns"),
    ],
)
def test_validation(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(SchemaError, match=message):
        LinkSpec(**kwargs)  # type: ignore[arg-type]


def test_cytominer_database_names() -> None:
    layout = resolve_layout(LinkSpec(), _tables())
    assert layout.merge_columns == ("TableNumber", "ImageNumber")
    assert [c.name for c in layout.columns] == [
        "Metadata_ImageNumber",
        "Metadata_Plate",
        "Metadata_Site",
        "Metadata_Well",
        "Metadata_TableNumber",
        "Metadata_ObjectNumber_cytoplasm",
        "Metadata_Cytoplasm_Parent_Cells",
        "Metadata_Cytoplasm_Parent_Nuclei",
        "Cytoplasm_A",
        "Metadata_ObjectNumber_cells",
        "Cells_Parent_Nuclei",
        "Cells_A",
        "Metadata_ObjectNumber",
        "Nuclei_A",
    ]
    kinds = {c.name: c.kind for c in layout.columns}
    assert kinds["Cells_Parent_Nuclei"] == "feature"
    assert kinds["Metadata_TableNumber"] == "key"


def test_exporttodatabase_detection_is_case_insensitive() -> None:
    tables = _tables(table_number=False, prefix="per_")
    layout = resolve_layout(LinkSpec(), tables)
    assert layout.merge_columns == ("ImageNumber",)
    assert layout.image.name == "per_Image"
    assert layout.image_columns == (
        "ImageNumber",
        "Image_Metadata_Plate",
        "Image_Metadata_Site",
        "Image_Metadata_Well",
    )


def test_missing_and_ambiguous_tables() -> None:
    tables = _tables()
    del tables["Nuclei"]
    with pytest.raises(SourceError, match=r"no 'Nuclei' table in plate\.sqlite"):
        resolve_layout(LinkSpec(), tables, where="plate.sqlite")
    both = _tables() | {"Per_Nuclei": _tables()["Nuclei"]}
    with pytest.raises(SourceError, match="several tables"):
        resolve_layout(LinkSpec(), both)


def test_missing_merge_column() -> None:
    tables = _tables(table_number=False)
    with pytest.raises(ColumnNotFoundError, match=r"merge column.*'TableNumber'"):
        resolve_layout(LinkSpec(merge_columns=("TableNumber", "ImageNumber")), tables)


def test_non_canonical_compartment() -> None:
    tables = _tables()
    speckles = TableInfo("Speckles", ("TableNumber", "ImageNumber", "ObjectNumber", "Speckles_A"))
    tables = {k: v for k, v in tables.items() if k != "Nuclei"} | {"Speckles": speckles}
    tables["Cytoplasm"] = TableInfo(
        "Cytoplasm",
        ("TableNumber", "ImageNumber", "ObjectNumber", "Cytoplasm_Parent_Cells",
         "Cytoplasm_Parent_Speckles", "Cytoplasm_A"),
    )  # fmt: skip
    linking = {
        "cytoplasm": {"cells": "Cytoplasm_Parent_Cells", "speckles": "Cytoplasm_Parent_Speckles"},
        "cells": {"cytoplasm": "ObjectNumber"},
        "speckles": {"cytoplasm": "ObjectNumber"},
    }
    spec = LinkSpec(compartments=("cytoplasm", "cells", "speckles"), linking_columns=linking)
    names = [c.name for c in resolve_layout(spec, tables).columns]
    assert names[-2:] == ["Metadata_ObjectNumber", "Speckles_A"]
    assert "Metadata_Cytoplasm_Parent_Speckles" in names


def test_four_compartments_collide_as_in_pandas() -> None:
    """A fourth ObjectNumber-linked table makes pandas raise MergeError; we raise SchemaError."""
    tables = _tables()
    tables["Cytoplasm"] = TableInfo(
        "Cytoplasm", (*tables["Cytoplasm"].columns, "Cytoplasm_Parent_Speckles")
    )
    tables["Speckles"] = TableInfo(
        "Speckles", ("TableNumber", "ImageNumber", "ObjectNumber", "Speckles_A")
    )
    linking = {
        "cytoplasm": {
            "cells": "Cytoplasm_Parent_Cells",
            "nuclei": "Cytoplasm_Parent_Nuclei",
            "speckles": "Cytoplasm_Parent_Speckles",
        },
        "cells": {"cytoplasm": "ObjectNumber"},
        "nuclei": {"cytoplasm": "ObjectNumber"},
        "speckles": {"cytoplasm": "ObjectNumber"},
    }
    spec = LinkSpec(
        compartments=("cytoplasm", "cells", "nuclei", "speckles"), linking_columns=linking
    )
    with pytest.raises(SchemaError, match="duplicated column names"):
        resolve_layout(spec, tables)

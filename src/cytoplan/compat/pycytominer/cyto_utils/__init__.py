"""pycytominer's ``cyto_utils``: the helpers, loaders, writers and legacy classes."""

from __future__ import annotations

from cytoplan.compat.pycytominer.cyto_utils.annotate_custom import (
    annotate_cmap,
    cp_clean,
    prepare_external_metadata_for_annotate,
)
from cytoplan.compat.pycytominer.cyto_utils.blocklist import Blocklist, get_blocklist_features
from cytoplan.compat.pycytominer.cyto_utils.cell_locations import CellLocation
from cytoplan.compat.pycytominer.cyto_utils.cells import SingleCells
from cytoplan.compat.pycytominer.cyto_utils.collate import collate
from cytoplan.compat.pycytominer.cyto_utils.cp_image_features import (
    aggregate_fields_count,
    aggregate_image_features,
)
from cytoplan.compat.pycytominer.cyto_utils.DeepProfiler_processing import (
    AggregateDeepProfiler,
    DeepProfilerData,
    SingleCellDeepProfiler,
)
from cytoplan.compat.pycytominer.cyto_utils.features import (
    convert_compartment_format_to_list,
    count_na_features,
    drop_outlier_features,
    infer_cp_features,
    label_compartment,
)
from cytoplan.compat.pycytominer.cyto_utils.load import (
    infer_delim,
    load_cytotable_profiles,
    load_npz_features,
    load_npz_locations,
    load_platemap,
    load_profiles,
)
from cytoplan.compat.pycytominer.cyto_utils.modz import modz
from cytoplan.compat.pycytominer.cyto_utils.output import output
from cytoplan.compat.pycytominer.cyto_utils.single_cell_ingest_utils import (
    assert_linking_cols_complete,
    get_default_linking_cols,
    provide_linking_cols_feature_name_update,
)
from cytoplan.compat.pycytominer.cyto_utils.util import (
    check_aggregate_operation,
    check_compartments,
    check_consensus_operation,
    check_correlation_method,
    check_fields_of_view,
    check_fields_of_view_format,
    check_image_features,
    extract_image_features,
    get_default_compartments,
    get_pairwise_correlation,
    load_known_metadata_dictionary,
    write_to_file_if_user_specifies_output_details,
)
from cytoplan.compat.pycytominer.cyto_utils.write_gct import write_gct

__all__ = [
    "AggregateDeepProfiler",
    "Blocklist",
    "CellLocation",
    "DeepProfilerData",
    "SingleCellDeepProfiler",
    "SingleCells",
    "aggregate_fields_count",
    "aggregate_image_features",
    "annotate_cmap",
    "assert_linking_cols_complete",
    "check_aggregate_operation",
    "check_compartments",
    "check_consensus_operation",
    "check_correlation_method",
    "check_fields_of_view",
    "check_fields_of_view_format",
    "check_image_features",
    "collate",
    "convert_compartment_format_to_list",
    "count_na_features",
    "cp_clean",
    "drop_outlier_features",
    "extract_image_features",
    "get_blocklist_features",
    "get_default_compartments",
    "get_default_linking_cols",
    "get_pairwise_correlation",
    "infer_cp_features",
    "infer_delim",
    "label_compartment",
    "load_cytotable_profiles",
    "load_known_metadata_dictionary",
    "load_npz_features",
    "load_npz_locations",
    "load_platemap",
    "load_profiles",
    "modz",
    "output",
    "prepare_external_metadata_for_annotate",
    "provide_linking_cols_feature_name_update",
    "write_gct",
    "write_to_file_if_user_specifies_output_details",
]

"""pycytominer's ``cyto_utils.util``: validators, the output decorator, pairwise correlation."""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Callable
from functools import wraps
from importlib.resources import files
from typing import Any, Literal, cast

import numpy as np
import pandas as pd

from cytoplan.compat.pycytominer._frames import to_lazy
from cytoplan.compat.pycytominer.cyto_utils.features import convert_compartment_format_to_list
from cytoplan.compat.pycytominer.cyto_utils.output import output
from cytoplan.stats.correlation import correlation_matrix

__all__ = [
    "check_aggregate_operation",
    "check_compartments",
    "check_consensus_operation",
    "check_correlation_method",
    "check_fields_of_view",
    "check_fields_of_view_format",
    "check_image_features",
    "default_metadata_file",
    "extract_image_features",
    "get_default_compartments",
    "get_pairwise_correlation",
    "load_known_metadata_dictionary",
    "write_to_file_if_user_specifies_output_details",
]

#: pycytominer's packaged compartment → known metadata columns table
default_metadata_file = str(
    files("cytoplan.compat.pycytominer") / "data" / "metadata_feature_dictionary.txt"
)


def get_default_compartments() -> list[str]:
    """The canonical compartments.

    >>> get_default_compartments()
    ['cells', 'cytoplasm', 'nuclei']
    """
    return ["cells", "cytoplasm", "nuclei"]


def check_compartments(compartments: str | list[str]) -> None:
    """Warn (``UserWarning``) about compartments that are not canonical."""
    default_compartments = get_default_compartments()
    odd = [
        c for c in convert_compartment_format_to_list(compartments) if c not in default_compartments
    ]
    if odd:
        warnings.warn(f"Non-canonical compartment detected: {', '.join(odd)}", stacklevel=2)


def load_known_metadata_dictionary(
    metadata_file: str = default_metadata_file,
) -> dict[str, list[str]]:
    """Compartment → CellProfiler columns known to be metadata (tab-separated file).

    >>> load_known_metadata_dictionary()["cytoplasm"][:2]
    ['Number_Object_Number', 'Parent_Nuclei']
    """
    metadata_dict: dict[str, list[str]] = {}
    with open(metadata_file) as handle:  # noqa: PTH123
        next(handle)
        for line in handle:
            compartment, feature = line.strip().split("\t")
            metadata_dict.setdefault(compartment.lower(), []).append(feature)
    return metadata_dict


def check_correlation_method(method: str) -> Literal["pearson", "kendall", "spearman"]:
    """Lower-cased ``method`` if supported, else ``ValueError``.

    >>> check_correlation_method("Pearson")
    'pearson'
    """
    method = method.lower()
    avail_methods = ["pearson", "spearman", "kendall"]
    if method not in avail_methods:
        msg = f"method {method} not supported, select one of {avail_methods}"
        raise ValueError(msg)
    return cast('Literal["pearson", "kendall", "spearman"]', method)


def check_aggregate_operation(operation: str) -> str:
    """Lower-cased ``operation`` if ``mean`` or ``median``, else ``ValueError``.

    >>> check_aggregate_operation("MEAN")
    'mean'
    """
    operation = operation.lower()
    avail_ops = ["mean", "median"]
    if operation not in avail_ops:
        msg = f"operation {operation} not supported, select one of {avail_ops}"
        raise ValueError(msg)
    return operation


def check_consensus_operation(operation: str) -> str:
    """Lower-cased ``operation`` if ``mean``, ``median`` or ``modz``, else ``ValueError``.

    >>> check_consensus_operation("modz")
    'modz'
    """
    operation = operation.lower()
    avail_ops = ["modz"]
    try:
        operation = check_aggregate_operation(operation)
    except ValueError:
        if operation not in avail_ops:
            msg = (
                f"operation {operation} not supported, select one of {avail_ops} "
                "or see aggregate.py"
            )
            raise ValueError(msg) from None
    return operation


def write_to_file_if_user_specifies_output_details(
    func: Callable[..., pd.DataFrame | str],
) -> Callable[..., pd.DataFrame | str]:
    """pycytominer's decorator: pop the output arguments, call, write if asked.

    ``output_file=None`` returns the DataFrame; otherwise :func:`output` writes it with
    the given ``output_type``, ``compression_options`` (None: **uncompressed**, even
    for a ``.gz`` name) and ``float_format``, and the file name is returned.
    """
    signature = inspect.signature(func)

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> pd.DataFrame | str:
        bound = signature.bind_partial(*args, **kwargs)
        bound.apply_defaults()
        output_file = bound.arguments.pop("output_file", None)
        output_type = bound.arguments.pop("output_type", None)
        compression_options = bound.arguments.pop("compression_options", None)
        float_format = bound.arguments.pop("float_format", None)
        result = func(**bound.arguments)
        if output_file is None:
            return result
        return output(
            df=cast("pd.DataFrame", result),
            output_filename=output_file,
            output_type=output_type,
            compression_options=compression_options,
            float_format=float_format,
        )

    return wrapper


def check_fields_of_view_format(fields_of_view: str | list[int]) -> str | list[int]:
    """``"all"`` or the fields of view as integers (``TypeError`` otherwise).

    >>> check_fields_of_view_format(["1", 2])
    [1, 2]
    """
    if fields_of_view == "all":
        return fields_of_view
    if not isinstance(fields_of_view, list):
        msg = f"Variable of type list expected, however type {type(fields_of_view)} was passed."
        raise TypeError(msg)
    if all(isinstance(x, int) for x in fields_of_view):
        return fields_of_view
    try:
        return [int(x) for x in fields_of_view]
    except ValueError:
        msg = (
            "Variables of type int expected, however some of the input fields of view "
            "are not integers."
        )
        raise TypeError(msg) from None


def check_fields_of_view(data_fields_of_view: list[int], input_fields_of_view: list[int]) -> None:
    """``ValueError`` unless every requested field of view exists in the data.

    >>> check_fields_of_view([1, 2, 3], [4])
    Traceback (most recent call last):
    ...
    ValueError: Some of the input fields of view are not present in the image table.
    """
    common = np.intersect1d(data_fields_of_view, input_fields_of_view)
    if len(common) != len(input_fields_of_view):
        msg = "Some of the input fields of view are not present in the image table."
        raise ValueError(msg)


def check_image_features(image_features: list[str], image_columns: list[str]) -> None:
    """``ValueError`` unless every image feature category is in the image table.

    >>> check_image_features(["Granularity"], ["Granularity_1_DNA", "ImageNumber"])
    """
    if "Image" in {col.split("_")[0] for col in image_columns}:
        level = 1
        image_columns = [x for x in image_columns if "_" in x]
    else:
        level = 0
    categories = {col.split("_")[level] for col in image_columns}
    if not all(feature in categories for feature in image_features):
        msg = "Some of the input image features are not present in the image table."
        raise ValueError(msg)


def extract_image_features(
    image_feature_categories: list[str],
    image_df: pd.DataFrame,
    image_cols: list[str],
    strata: list[str],
) -> pd.DataFrame:
    """Image-table features of the given categories, renamed as pycytominer does.

    ``Count_*`` → ``Metadata_Count_*``, ``Image_*`` unchanged, others → ``Image_<name>``,
    preceded by the (sorted) union of ``image_cols`` and ``strata``.
    """
    check_image_features(image_feature_categories, list(image_df.columns))
    names = [c for c in image_df.columns if str(c).startswith(tuple(image_feature_categories))]
    features_df = image_df[names].copy()
    features_df.columns = pd.Index(
        [
            f"Metadata_{x}"
            if x.startswith("Count_")
            else (x if x.startswith("Image_") else f"Image_{x}")
            for x in names
        ]
    )
    keys = list(np.union1d(image_cols, strata))
    return pd.concat([image_df[keys], features_df], axis=1)


def get_pairwise_correlation(
    population_df: pd.DataFrame, method: str = "pearson"
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The symmetric correlation matrix and its strict lower triangle as a long table.

    Correlations come from :func:`cytoplan.stats.correlation.correlation_matrix`
    (pairwise-complete when values are missing or infinite, as pandas).

    >>> import pandas as pd
    >>> df = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [1.0, 2.0, 4.0]})
    >>> matrix, pairs = get_pairwise_correlation(df)
    >>> round(float(matrix.loc["b", "a"]), 4)
    0.982
    """
    corrected = check_correlation_method(method)
    names = list(population_df.columns)
    lf = to_lazy(population_df.astype(float), names)
    matrix = correlation_matrix(lf, names, method=corrected)
    data_cor_df = pd.DataFrame(matrix, index=names, columns=names)
    lower = data_cor_df.where(np.tril(np.ones(data_cor_df.shape), k=-1).astype(bool))
    pairwise_df = lower.stack().reset_index()
    pairwise_df.columns = pd.Index(["pair_a", "pair_b", "correlation"])
    return data_cor_df, pairwise_df

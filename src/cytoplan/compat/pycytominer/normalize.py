"""pycytominer's ``normalize``: fit a scaler on ``samples`` rows, apply it to all rows.

Computed by cytoplan's normalizers (:mod:`cytoplan.ops.normalize`): statistics from
one aggregation (blocked medians/MADs, streamed moments, a d×d SVD for sphering),
then a lazy transform.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from cytoplan.compat.pycytominer._frames import pycytominer_errors, to_lazy
from cytoplan.compat.pycytominer.cyto_utils.features import infer_cp_features
from cytoplan.compat.pycytominer.cyto_utils.load import load_profiles
from cytoplan.compat.pycytominer.cyto_utils.util import (
    write_to_file_if_user_specifies_output_details,
)
from cytoplan.compat.pycytominer.operations.transform import (
    InverseNormalTransform,
    RobustMAD,
    Spherize,
)
from cytoplan.ops.normalize import make_normalizer
from cytoplan.query import columns_in

__all__ = ["InverseNormalTransform", "RobustMAD", "Spherize", "normalize"]

_METHODS = ["standardize", "robustize", "mad_robustize", "spherize", "inverse_normal"]
_MISSING_TOKENS = {"", "na", "n/a", "nan", "none", "null"}
_SPHERIZE_METHODS = ["PCA", "ZCA", "PCA-cor", "ZCA-cor"]


@write_to_file_if_user_specifies_output_details
def normalize(
    profiles: Any,
    features: str | list[str] = "infer",
    image_features: bool = False,
    meta_features: str | list[str] = "infer",
    samples: str = "all",
    method: str = "standardize",
    drop_cosmicqc_rows: bool = False,
    output_file: str | None = None,
    output_type: str | None = "csv",
    compression_options: Any = None,
    float_format: str | None = None,
    mad_robustize_epsilon: float | None = 1e-18,
    spherize_center: bool = True,
    spherize_method: str = "ZCA-cor",
    spherize_epsilon: float = 1e-6,
    inverse_normal_n_quantiles: int = 1000,
) -> pd.DataFrame | str:
    """Normalize features (pycytominer 1.7.1 ``normalize``).

    Output columns: ``meta_features``, pass-through ``Image_*``/``ome_arrow_*`` columns,
    then the features (``PC1..PCd`` for PCA sphering). **Every other column is
    dropped**, as in pycytominer. Row order and the input index are kept.

    Parameters
    ----------
    profiles
        A DataFrame or a path (:func:`~cytoplan.compat.pycytominer.cyto_utils.load_profiles`).
    features, meta_features
        ``"infer"`` or lists of names.
    image_features
        Also infer ``Image*`` features.
    samples
        ``"all"`` or a pandas query selecting the rows the statistics are fitted on.
    method
        ``standardize``, ``robustize``, ``mad_robustize``, ``spherize`` or
        ``inverse_normal``.
    drop_cosmicqc_rows
        Drop rows flagged in any ``Metadata_cqc_*`` column first.
    output_file, output_type, compression_options, float_format
        Write the result instead of returning it.
    mad_robustize_epsilon, spherize_center, spherize_method, spherize_epsilon
        Method options.
    inverse_normal_n_quantiles
        Method options.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"Metadata_Well": ["A", "B"], "Other": [1, 2],
    ...                    "Cells_x": [1.0, 3.0]})
    >>> normalize(df).values.tolist()
    [['A', -1.0], ['B', 1.0]]
    """
    profiles = load_profiles(profiles)
    if drop_cosmicqc_rows:
        qc_columns = [col for col in profiles.columns if str(col).startswith("Metadata_cqc_")]
        if not qc_columns:
            msg = "No QC columns found with prefix 'Metadata_cqc_'. Cannot drop QC rows."
            raise ValueError(msg)
        profiles = profiles[~profiles[qc_columns].any(axis="columns")]
        if profiles.empty:
            msg = "All rows were dropped after QC filtering; cannot normalize an empty dataset."
            raise ValueError(msg)
    method = method.lower()
    if method not in _METHODS:
        msg = f"operation must be one {_METHODS}"
        raise ValueError(msg)
    if method == "mad_robustize" and mad_robustize_epsilon is None:
        msg = "mad_robustize_epsilon must be a float"
        raise ValueError(msg)
    if method == "spherize":
        _check_spherize(spherize_method, center=spherize_center)
    if features == "infer":
        features = infer_cp_features(profiles, image_features=image_features)
    if isinstance(features, str):
        msg = "features must be a list of strings, not a single string"
        raise ValueError(msg)
    profiles = _missing_strings_as_nan(profiles, features)
    non_numeric = [f for f in features if not pd.api.types.is_numeric_dtype(profiles[f])]
    if non_numeric:
        msg = (
            "normalize() requires numeric feature columns. Found non-numeric columns: "
            f"{non_numeric}. Select numeric features explicitly before normalization, "
            "for example by passing a curated feature list or by running "
            "feature_select() first."
        )
        raise ValueError(msg)
    if meta_features == "infer":
        meta_features = infer_cp_features(profiles, metadata=True)
    if isinstance(meta_features, str):
        msg = "meta_features must be a list of strings, not a single string"
        raise ValueError(msg)
    taken = set(features).union(meta_features)
    passthrough = [
        c
        for c in profiles.columns
        if c not in taken and (str(c).startswith("Image_") or str(c).startswith("ome_arrow_"))
    ]
    normalized = _normalize_features(
        profiles,
        list(features),
        samples,
        method,
        mad_robustize_epsilon=mad_robustize_epsilon,
        spherize_center=spherize_center,
        spherize_method=spherize_method,
        spherize_epsilon=spherize_epsilon,
        inverse_normal_n_quantiles=inverse_normal_n_quantiles,
    )
    return pd.concat(
        [profiles.loc[:, meta_features], profiles.loc[:, passthrough], normalized],
        axis="columns",
    )


def _check_spherize(method: str, *, center: bool) -> None:
    if method not in _SPHERIZE_METHODS:
        msg = f"Error {method} not supported. Select one of {_SPHERIZE_METHODS}"
        raise ValueError(msg)
    if method in ("PCA-cor", "ZCA-cor") and not center:
        msg = "PCA-cor and ZCA-cor require center=True"
        raise ValueError(msg)


def _missing_strings_as_nan(profiles: pd.DataFrame, features: list[str]) -> pd.DataFrame:
    """pycytominer's shim: object features of numbers and missing-value strings → float."""
    for feature in features:
        column = profiles[feature]
        if pd.api.types.is_numeric_dtype(column):
            continue
        values = column.dropna()
        if values.empty:
            continue
        is_text = values.map(lambda value: isinstance(value, str))
        text, other = values[is_text], values[~is_text]
        if text.empty or not other.map(pd.api.types.is_number).all():
            continue
        if text.map(lambda value: value.strip().lower()).isin(_MISSING_TOKENS).all():
            cleaned = column.map(
                lambda value: (
                    np.nan
                    if isinstance(value, str) and value.strip().lower() in _MISSING_TOKENS
                    else value
                )
            )
            profiles = profiles.assign(**{feature: pd.to_numeric(cleaned, errors="coerce")})
    return profiles


def _normalize_features(
    profiles: pd.DataFrame,
    features: list[str],
    samples: str,
    method: str,
    **options: Any,
) -> pd.DataFrame:
    """The normalized features as a pandas frame on ``profiles``' index."""
    reference = None if samples == "all" else samples
    query_columns = columns_in(reference) if reference is not None else []
    values = profiles.loc[:, features].astype(float)
    extra = [c for c in dict.fromkeys(query_columns) if c not in features]
    lf = to_lazy(pd.concat([values, profiles.loc[:, extra]], axis=1), [*features, *extra])
    if method == "spherize":
        _check_finite(values, reference, profiles)
    normalizer = make_normalizer(method, features=features, **options)  # type: ignore[arg-type]
    with pycytominer_errors():
        normalizer.fit(lf, reference=reference)
        out = normalizer.transform(lf.select(features)).collect()
    names = out.columns
    result = pd.DataFrame(out.to_numpy(), columns=names, index=profiles.index).astype(float)
    kinds = {profiles[f].dtype for f in features}
    if method != "spherize" and kinds == {np.dtype(np.float32)}:
        # sklearn's scalers (and pandas arithmetic) keep float32 input as float32
        result = result.astype(np.float32)
    return result


def _check_finite(values: pd.DataFrame, reference: str | None, profiles: pd.DataFrame) -> None:
    """Spherize fits an SVD: pycytominer fails with numpy's ``LinAlgError`` on NaN/inf."""
    fit = values if reference is None else values.loc[profiles.query(reference).index]
    array = fit.to_numpy(dtype=float)
    if not np.isfinite(array).all():
        msg = "SVD did not converge"
        raise np.linalg.LinAlgError(msg)

"""Feature × feature correlation matrices in bounded memory.

pycytominer computes correlations on a dense pandas frame: ``np.corrcoef`` when
the data hold no missing or infinite value, ``DataFrame.corr`` (pairwise-complete
observations) otherwise. This module computes the same matrices without ever
holding an ``n × d`` table:

* **Pearson** streams the rows in fixed-size batches and accumulates shifted
  cross-products (``X^T X`` with ``dsyrk``); the ``d × d`` result is all NumPy
  keeps. The shift is each column's mean in the first batch (its exact value when
  the column is constant there), so centering is numerically stable (errors of
  order machine epsilon, not ``mean² / variance``) and exactly constant columns
  give exactly zero variance (NaN correlations, as pandas). A column whose values
  lie far from that shift (missing from the whole first batch, or drifting by
  hundreds of standard deviations) would lose digits: the rows are then read a
  second time, each column shifted by its mean. When a batch holds a
  missing or infinite value the accumulator switches, without restarting, to
  *pairwise-complete* sums (counts, sums and sums of squares per pair of columns,
  as masked matrix products), which reproduce pandas' ``DataFrame.corr()``
  semantics: a pair uses the rows where both values are finite.
* **Spearman** is Pearson on average ranks. Ranks are holistic, so the columns are
  split into blocks sized from the memory limit and each pair of blocks is
  correlated in turn (a single block when everything fits). With missing values
  each pair is re-ranked on its pairwise-complete rows, as pandas does, vectorised
  over the second column of the pair.
* **Kendall** (tau-b, as ``scipy.stats.kendalltau`` and pandas) is the cosine of
  the sign vectors of all row pairs, ``S^T S``, accumulated over chunks of row
  pairs: ``O(n² d²)`` work, meant for well-level profiles.

Rows are consumed in batches of a fixed size (independent of how Polars chunks its
output) and in a fixed order, so results are deterministic.

Examples
--------
>>> import polars as pl
>>> lf = pl.LazyFrame({"a": [1.0, 2.0, 3.0, 4.0], "b": [2.0, 4.1, 5.9, 8.2], "c": [4.0, 3, 2, 1]})
>>> correlation_matrix(lf, ["a", "b", "c"]).round(4).tolist()
[[1.0, 0.999, -1.0], [0.999, 1.0, -0.999], [-1.0, -0.999, 1.0]]
>>> correlation_matrix(lf, ["a", "c"], method="kendall").tolist()
[[1.0, -1.0], [-1.0, 1.0]]
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import polars as pl

from cytoplan.config import settings
from cytoplan.exceptions import ParameterError, StatisticsError
from cytoplan.stats.blocks import (
    plan_made_of,
    row_count,
    stable_row_order,
    staged,
    working_memory,
)
from cytoplan.stats.copies import tie_exact_copies
from cytoplan.stats.row_groups import warn_if_row_groups_exceed

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray
    from polars._typing import EngineType

    from cytoplan._typing import CorrelationMethod

__all__ = [
    "CrossProducts",
    "PairwiseCrossProducts",
    "batch_rows_for",
    "correlation_matrix",
    "cross_products",
    "fixed_batches",
    "kendall",
    "pearson",
    "spearman",
]

_METHODS = ("pearson", "spearman", "kendall")
#: relative cancellation below which a pairwise sum of squares counts as zero
_CANCELLATION = 1e-13
#: share of a column's shifted sum of squares below which its spread counts as lost to
#: the shift (about three of sixteen digits): the rows are then summed again, each
#: column shifted by its mean
_OFF_CENTRE = 1e-3
#: bytes of one batch of rows handed to NumPy (a few copies are alive at once)
_BATCH_BYTES = 64 * 2**20
#: Kendall work (row pairs × d²) above which we refuse and explain
_KENDALL_MAX_WORK = 2e13


def _float_columns(columns: Sequence[str]) -> list[pl.Expr]:
    """``columns`` as Float64, in one expression.

    Casting a Float64 column is free; looking the dtypes up first to skip it cost more
    (a schema of 3,000 columns: 4 ms, against 1 ms for the casts).
    """
    return [pl.col(list(columns)).cast(pl.Float64)]


def _float_frame(lf: pl.LazyFrame, columns: Sequence[str]) -> pl.LazyFrame:
    return lf.select(_float_columns(columns))


def batch_rows_for(n_columns: int, memory_limit: int | str | None = None) -> int:
    """Rows per batch so that a batch of ``n_columns`` float64 values stays small.

    At most 64 MiB per batch (and an eighth of the memory limit): a power of two
    between 256 and 65,536 rows, so that batches tile the 8,192-row slices exactly.

    >>> batch_rows_for(3000)
    2048
    """
    budget = min(_BATCH_BYTES, settings(memory_limit=memory_limit).memory_limit // 8)
    rows = int(min(65_536, max(256, budget // max(1, n_columns * 8))))
    return 1 << (rows.bit_length() - 1)  # a power of two: divides the 8,192-row slices


def fixed_batches(
    lf: pl.LazyFrame,
    rows: int,
    *,
    where: pl.Expr | None = None,
    select: Sequence[pl.Expr] | None = None,
    memory_limit: int | str | None = None,
    width: int | None = None,
    matrices: Callable[[], int] | None = None,
) -> Iterator[pl.DataFrame]:
    """The rows of ``lf`` matching ``where``, projected on ``select``, ``rows`` at a time.

    Every batch has exactly ``rows`` rows but the last, whatever the engine's own
    chunking, so sums accumulated batch by batch are deterministic.

    When the plan is a plain scan (Parquet/IPC or an in-memory frame, with at most
    a projection), rows are *pulled* in slices sized from the memory limit, each
    read only when the previous one is consumed: memory stays bounded however slow
    the consumer is. Other plans stream through ``collect_batches``, whose engine
    may read ahead of a slow consumer.

    >>> import polars as pl
    >>> [b.height for b in fixed_batches(pl.LazyFrame({"a": range(10)}), 4)]
    [4, 4, 2]
    """
    pending: list[pl.DataFrame] = []
    held = 0
    chunks = _chunks(
        lf,
        rows,
        where=where,
        select=select,
        memory_limit=memory_limit,
        width=width,
        matrices=matrices,
    )
    # references are dropped explicitly: a slice of a chunk keeps the whole chunk alive,
    # and the next chunk must not be read while the previous one is still held
    while (chunk := next(chunks, None)) is not None:
        if chunk.height:
            pending.append(chunk)
            held += chunk.height
        del chunk
        while held >= rows:
            joined = pl.concat(pending, rechunk=False) if len(pending) > 1 else pending[0]
            batch, rest = joined.slice(0, rows), joined.slice(rows)
            del joined
            pending = [rest] if rest.height else []
            held = rest.height
            del rest
            yield batch
            del batch
    if held:
        yield pl.concat(pending)


#: plan lines of a plain scan: slicing it reads only the rows asked for
_PLAIN_FILE_SCAN = ("Parquet SCAN", "IPC SCAN", "PROJECT", "ESTIMATED ROWS", "simple π")
_PLAIN_SCAN = (*_PLAIN_FILE_SCAN, "DF [")
_PIECE_ALIGN = 8192


def _plain_scan_source(lf: pl.LazyFrame) -> str | None:
    """``"file"`` or ``"memory"`` when ``lf`` is a plain scan of one, else None."""
    if not plan_made_of(lf, _PLAIN_SCAN):
        return None
    return "file" if plan_made_of(lf, _PLAIN_FILE_SCAN) else "memory"


def _piece_rows(
    width: int,
    rows: int,
    memory_limit: int | str | None,
    matrices: int = 2,
    working: int | None = None,
) -> int:
    """Rows per slice: a slice and its decoding buffers take about half the budget left
    after ``matrices`` ``d × d`` float64 arrays (the accumulators); a multiple of 8,192
    rows (whole row groups of the files cytoplan writes), rounded down so the slice
    stays within its share.

    Rounding to the nearest multiple took 49,920 × 3,000 Pearson at a 1 GiB limit to
    16,384-row slices and a 0.78–1.0 GiB peak; rounded down, 0.50–0.52 GiB. A file
    whose row groups are longer than the slices has some decoded twice (16,384-row
    groups: 6.35 s against 5.3–5.5 s for 4,096-row groups).
    """
    limit = settings(memory_limit=memory_limit).memory_limit
    if working is None:
        working = working_memory(memory_limit)
    left = max(limit // 4, working - matrices * width * width * 8)
    piece = max(rows, left // 2 // max(1, width * 8))
    if piece >= _PIECE_ALIGN:
        piece = _PIECE_ALIGN * (piece // _PIECE_ALIGN)  # down: within the budget
    return int(piece)


def _chunks(
    lf: pl.LazyFrame,
    rows: int,
    *,
    where: pl.Expr | None,
    select: Sequence[pl.Expr] | None,
    memory_limit: int | str | None,
    width: int | None = None,
    matrices: Callable[[], int] | None = None,
) -> Iterator[pl.DataFrame]:
    def project(frame: pl.LazyFrame) -> pl.LazyFrame:
        frame = frame if where is None else frame.filter(where)
        return frame if select is None else frame.select(select)

    source = _plain_scan_source(lf)
    if source is not None:
        if width is None:
            width = len((lf if select is None else lf.select(select)).collect_schema())
        columns = width
        # measured once: later, the process holds the slices read so far (for reuse)
        working = working_memory(memory_limit)
        # filtered, the rows are counted up front (a short slice may not be the last)
        total = row_count(lf) if where is not None else None
        if source == "file":
            warn_if_row_groups_exceed(lf, width, working, n_rows=total)

        def piece() -> int:  # the consumer's matrices can grow (pairwise sums)
            held = matrices() if matrices else 2
            return _piece_rows(columns, rows, memory_limit, held, working)

        # rows already in memory are only projected: the in-memory engine does that
        # with less fixed cost than the streaming one (6 against 9 ms at 6,000 columns)
        engine: EngineType = "in-memory" if source == "memory" else "streaming"
        offset = 0
        while total is None or offset < total:
            length = piece()
            chunk = project(lf.slice(offset, length)).collect(engine=engine)
            # unfiltered: a short slice is the last one (no count query)
            last = total is None and chunk.height < length
            yield chunk
            del chunk
            if last:
                return
            offset += length
        return
    yield from project(lf).collect_batches(chunk_size=rows, maintain_order=True, engine="streaming")


def _as_array(batch: pl.DataFrame) -> NDArray[np.float64]:
    import numpy as np

    array = batch.to_numpy(order="fortran", writable=True)
    return np.asarray(array, dtype=np.float64, order="F")


def _syrk_into(gram: NDArray[np.float64] | None, block: NDArray[np.float64]) -> NDArray[np.float64]:
    """``gram + block.T @ block`` (upper triangle only), reusing ``gram``'s memory."""
    import numpy as np
    from scipy.linalg.blas import dsyrk

    block = np.asfortranarray(block)
    if gram is None:
        result: NDArray[np.float64] = dsyrk(1.0, block, trans=1, lower=0)
        return result
    result = dsyrk(1.0, block, beta=1.0, c=gram, trans=1, lower=0, overwrite_c=1)
    return result


def _symmetric(upper: NDArray[np.float64], block: int = 128) -> NDArray[np.float64]:
    """Copy the upper triangle onto the lower one, in place (cache-friendly blocks)."""
    import numpy as np

    d = upper.shape[0]
    for start in range(0, d, block):
        stop = min(d, start + block)
        upper[start:stop, :start] = upper[:start, start:stop].T
        tile = upper[start:stop, start:stop]
        rows, cols = np.tril_indices(stop - start, k=-1)
        tile[rows, cols] = tile[cols, rows]
    return upper


def _correlation_from_upper(m2: NDArray[np.float64], block: int = 256) -> NDArray[np.float64]:
    """Centered cross-products (upper triangle) → full correlation matrix, in place.

    Only the upper triangle is scaled and clipped (the lower one is then copied from
    it), tile by tile over ``block`` columns; values as ``np.corrcoef`` computes them.
    """
    import numpy as np

    d = m2.shape[0]
    scale = np.sqrt(np.diag(m2).copy())
    with np.errstate(divide="ignore", invalid="ignore"):
        for start in range(0, d, block):
            stop = min(d, start + block)
            tile = m2[:stop, start:stop]  # columns start:stop down to the diagonal
            tile /= scale[:stop, None]
            tile /= scale[None, start:stop]
            np.clip(tile, -1.0, 1.0, out=tile)
    return _symmetric(m2)


def _correlation_of_rows(values: NDArray[np.float64], block: int = 256) -> NDArray[np.float64]:
    """The correlation matrix of all the rows there are (no missing values), in one go.

    Each column is centred (a constant column by its exact value, so it has exactly
    zero spread and NaN correlations, as in the streamed path) and scaled to unit
    norm before the product, which is then the correlation itself: no ``d × d``
    scaling pass. ``values`` is overwritten. 384 × 3,000: 60 against 64 ms.
    """
    import numpy as np

    low, high = values.min(axis=0), values.max(axis=0)
    values -= np.where(low == high, low, values.mean(axis=0))
    values -= values.mean(axis=0)  # the exact mean of what the shift left
    norms = np.sqrt(np.einsum("ij,ij->j", values, values))
    with np.errstate(divide="ignore", invalid="ignore"):
        values /= norms
    upper = _syrk_into(None, values)
    d = upper.shape[0]
    for start in range(0, d, block):
        tile = upper[: min(d, start + block), start : start + block]  # down to the diagonal
        np.clip(tile, -1.0, 1.0, out=tile)
    return _symmetric(upper)


@dataclass
class CrossProducts:
    """Mergeable partial statistics of complete rows: count, means, centered cross-products.

    ``m2[i, j] = Σ (x_i - mean_i)(x_j - mean_j)``. Partials of disjoint row sets
    merge exactly (Chan, Golub & LeVeque), which is how plates or row groups
    computed apart are combined.

    >>> import numpy as np
    >>> a = CrossProducts.from_array(np.array([[1.0, 2.0], [2.0, 4.0]]))
    >>> b = CrossProducts.from_array(np.array([[3.0, 5.0]]))
    >>> a.merge(b).covariance().round(3).tolist()
    [[1.0, 1.5], [1.5, 2.333]]
    """

    n: int
    mean: NDArray[np.float64]
    m2: NDArray[np.float64]

    @classmethod
    def from_array(cls, values: NDArray[np.float64]) -> CrossProducts:
        """Partials of a small in-memory array (rows × columns, all finite)."""

        mean = values.mean(axis=0)
        centered = values - mean
        return cls(n=values.shape[0], mean=mean, m2=centered.T @ centered)

    def merge(self, other: CrossProducts) -> CrossProducts:
        """Partials of the union of the two row sets."""
        import numpy as np

        if self.n == 0:
            return other
        if other.n == 0:
            return self
        n = self.n + other.n
        delta = other.mean - self.mean
        mean = self.mean + delta * (other.n / n)
        m2 = self.m2 + other.m2 + np.outer(delta, delta) * (self.n * other.n / n)
        return CrossProducts(n=n, mean=mean, m2=m2)

    def covariance(self, ddof: int = 1) -> NDArray[np.float64]:
        """The covariance matrix (``ddof=1`` as ``np.cov``)."""
        import numpy as np

        with np.errstate(divide="ignore", invalid="ignore"):
            result: NDArray[np.float64] = self.m2 / (self.n - ddof)
        return result

    def correlation(self) -> NDArray[np.float64]:
        """Pearson correlations, computed as ``np.corrcoef`` does (NaN for constant columns)."""
        import numpy as np

        scale = np.sqrt(np.diag(self.m2))
        with np.errstate(divide="ignore", invalid="ignore"):
            corr = self.m2 / scale[:, None]
            corr /= scale[None, :]
        np.clip(corr, -1.0, 1.0, out=corr)
        return corr


@dataclass
class PairwiseCrossProducts:
    """Pairwise-complete partial sums of shifted values (``x - shift``).

    For columns ``i`` and ``j``, over the rows where both are finite:
    ``count[i, j]`` rows, ``sum_x[i, j] = Σ x_i``, ``sum_xx[i, j] = Σ x_i²``,
    ``sum_xy[i, j] = Σ x_i x_j``. Correlations follow pandas' ``DataFrame.corr``:
    NaN where a column has no spread on the pair's rows.
    """

    shift: NDArray[np.float64]
    count: NDArray[np.float64]
    sum_x: NDArray[np.float64]
    sum_xx: NDArray[np.float64]
    sum_xy: NDArray[np.float64]

    def correlation(self) -> NDArray[np.float64]:
        """Pairwise-complete Pearson correlations."""
        import numpy as np

        with np.errstate(divide="ignore", invalid="ignore"):
            n = self.count
            sx, sy = self.sum_x, self.sum_x.T
            ssx = self.sum_xx - sx * sx / n
            ssy = self.sum_xx.T - sy * sy / n
            # a column constant on the pair's rows cancels to rounding noise: call it zero
            ssx[ssx <= _CANCELLATION * self.sum_xx] = 0.0
            ssy[ssy <= _CANCELLATION * self.sum_xx.T] = 0.0
            cxy = self.sum_xy - sx * sy / n
            corr = cxy / np.sqrt(ssx * ssy)
        corr[~np.isfinite(corr)] = np.nan
        # pandas' Welford loop gives exactly 1 on the diagonal (NaN without spread)
        np.fill_diagonal(corr, np.where(np.diag(ssx) > 0, 1.0, np.nan))
        np.clip(corr, -1.0, 1.0, out=corr)
        return corr


class _Accumulator:
    """Shifted cross-products over batches; switches to pairwise-complete sums on NaN/inf.

    With ``batch_rows``, a first batch shorter than that is the only one (every batch
    but the last is full): without missing values its correlation is then computed
    directly (:func:`_correlation_of_rows`) instead of from the cross-products.
    """

    def __init__(
        self, batch_rows: int | None = None, shift: NDArray[np.float64] | None = None
    ) -> None:
        self.shift = shift
        self.n = 0
        self.total: NDArray[np.float64] | None = None
        self.gram: NDArray[np.float64] | None = None
        self.pairwise: PairwiseCrossProducts | None = None
        self.batch_rows = batch_rows
        self.whole: NDArray[np.float64] | None = None  # the correlation of a lone batch

    def add(self, values: NDArray[np.float64]) -> None:
        import warnings

        import numpy as np

        finite = np.isfinite(values)
        complete = bool(finite.all())
        lone = self.shift is None and self.batch_rows and values.shape[0] < self.batch_rows
        if lone and complete:
            self.whole = _correlation_of_rows(values)
            return
        if self.shift is None:
            if complete:
                # the first batch's mean; a column constant in it is shifted by its exact
                # value, so an exactly constant column has exactly zero spread
                low, high = values.min(axis=0), values.max(axis=0)
                self.shift = np.where(low == high, low, values.mean(axis=0))
            else:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)  # all-missing columns
                    shift = np.nanmedian(np.where(finite, values, np.nan), axis=0)
                self.shift = np.where(np.isfinite(shift), shift, 0.0)
        values -= self.shift
        if complete and self.pairwise is None:
            self.n += values.shape[0]
            column_sums = values.sum(axis=0)
            self.total = column_sums if self.total is None else self.total + column_sums
            self.gram = _syrk_into(self.gram, values)
            return
        if self.pairwise is None:
            self._switch_to_pairwise(values.shape[1])
        self._add_pairwise(values, finite)

    def recentring_shift(self) -> NDArray[np.float64] | None:
        """Each column's mean, if some column's values lie far from their shift.

        The sums are of ``x - shift``; a column whose spread is under ``_OFF_CENTRE``
        of its shifted sum of squares (its first batch was all missing, or its values
        drifted by hundreds of standard deviations) loses digits when the sums are
        centred, so the rows should be summed again, shifted by these means. None when
        every column is centred well enough (or the correlation was computed whole).
        """
        import numpy as np

        if self.shift is None or self.whole is not None:
            return None
        if self.pairwise is not None:
            pw = self.pairwise
            n, sx, sxx = np.diag(pw.count), np.diag(pw.sum_x), np.diag(pw.sum_xx)
        elif self.gram is not None and self.total is not None:
            n, sx, sxx = np.full(self.total.shape, float(self.n)), self.total, np.diag(self.gram)
        else:
            return None
        with np.errstate(divide="ignore", invalid="ignore"):
            spread = sxx - sx * sx / n
            off_centre = (sxx > 0) & (spread < _OFF_CENTRE * sxx)
            if not off_centre.any():
                return None
            return np.where(n > 0, self.shift + sx / n, self.shift)

    def matrices(self) -> int:
        """``d × d`` float64 arrays held while a batch is added, plus one of headroom:
        the shifted Gram matrix, or the four pairwise-complete sums."""
        return 2 if self.pairwise is None else 5

    def _switch_to_pairwise(self, d: int) -> None:
        import numpy as np

        assert self.shift is not None
        if self.gram is None:
            self.pairwise = PairwiseCrossProducts(
                self.shift, *(np.zeros((d, d), order="F") for _ in range(4))
            )
            return
        assert self.total is not None
        gram = self.gram  # upper triangle, as the pairwise count and sum_xy are kept
        self.pairwise = PairwiseCrossProducts(
            shift=self.shift,
            count=np.full((d, d), float(self.n), order="F"),
            sum_x=np.asfortranarray(np.repeat(self.total[:, None], d, axis=1)),
            sum_xx=np.asfortranarray(np.repeat(np.diag(gram)[:, None], d, axis=1)),
            sum_xy=gram,
        )
        self.gram = self.total = None

    def _add_pairwise(self, values: NDArray[np.float64], finite: NDArray[np.bool_]) -> None:
        """Add a batch to the pairwise sums in place (BLAS with ``beta=1``): no ``d × d``
        temporary. ``count`` and ``sum_xy`` are symmetric and kept as upper triangles."""
        import numpy as np
        from scipy.linalg.blas import dgemm

        pw = self.pairwise
        assert pw is not None
        mask = np.asfortranarray(finite, dtype=np.float64)
        zeroed = np.asfortranarray(np.where(finite, values, 0.0))
        pw.count = _syrk_into(pw.count, mask)
        pw.sum_xy = _syrk_into(pw.sum_xy, zeroed)
        pw.sum_x = dgemm(1.0, zeroed, mask, beta=1.0, c=pw.sum_x, trans_a=1, overwrite_c=1)
        zeroed *= zeroed
        pw.sum_xx = dgemm(1.0, zeroed, mask, beta=1.0, c=pw.sum_xx, trans_a=1, overwrite_c=1)

    def correlation(self, d: int) -> NDArray[np.float64]:
        import numpy as np

        if self.whole is not None:
            return self.whole
        if self.pairwise is not None:
            pw = self.pairwise
            pw.count, pw.sum_xy = _symmetric(pw.count), _symmetric(pw.sum_xy)
            return pw.correlation()
        if self.gram is None or self.n == 0:
            return np.full((d, d), np.nan)
        from scipy.linalg.blas import dsyr

        assert self.total is not None
        m2 = dsyr(-1.0 / self.n, self.total, a=self.gram, lower=0, overwrite_a=1)
        self.gram = None
        return _correlation_from_upper(m2)


def cross_products(
    lf: pl.LazyFrame,
    columns: Sequence[str],
    *,
    where: pl.Expr | None = None,
    memory_limit: int | str | None = None,
    batch_rows: int | None = None,
) -> CrossProducts:
    """Count, means and centered cross-products of complete rows, in one streamed pass.

    Raises :class:`StatisticsError` if a value is missing or infinite (use
    :func:`pearson`, which handles them pairwise).

    >>> import polars as pl
    >>> cross_products(pl.LazyFrame({"a": [1.0, 2.0, 3.0], "b": [1.0, 0.0, 2.0]}), ["a", "b"]).m2
    array([[2., 1.],
           [1., 2.]])
    """
    acc = _stream(lf, columns, where=where, memory_limit=memory_limit, batch_rows=batch_rows)
    if acc.pairwise is not None:
        msg = "cross_products needs complete rows; some values are missing or infinite"
        raise StatisticsError(msg)
    import numpy as np

    d = len(columns)
    if acc.gram is None or acc.total is None or acc.shift is None:
        return CrossProducts(n=0, mean=np.zeros(d), m2=np.zeros((d, d)))
    m2 = _symmetric(acc.gram)
    m2 -= np.outer(acc.total, acc.total / acc.n)
    return CrossProducts(n=acc.n, mean=acc.shift + acc.total / acc.n, m2=m2)


def _stream(
    lf: pl.LazyFrame,
    columns: Sequence[str],
    *,
    where: pl.Expr | None,
    memory_limit: int | str | None,
    batch_rows: int | None,
    direct: bool = False,
) -> _Accumulator:
    """The cross-products of ``columns``, read a second time if the first shift was far off.

    The first pass shifts each column by its first batch's mean (or median, with missing
    values); :meth:`_Accumulator.recentring_shift` tells when that lost digits, and the
    second pass shifts by each column's mean over the whole table.
    """
    rows = batch_rows or batch_rows_for(len(columns), memory_limit)
    select = _float_columns(columns)
    shift = None
    while True:
        acc = _Accumulator(rows if direct else None, shift)
        batches = fixed_batches(
            lf,
            rows,
            where=where,
            select=select,
            memory_limit=memory_limit,
            width=len(columns),
            matrices=acc.matrices,
        )
        for batch in batches:
            acc.add(_as_array(batch))
            del batch  # do not pin the slice this batch views while the next one is read
        if shift is not None or (shift := acc.recentring_shift()) is None:
            return acc
        del acc  # its d × d sums: the second pass needs the memory


def pearson(
    lf: pl.LazyFrame,
    columns: Sequence[str],
    *,
    where: pl.Expr | None = None,
    memory_limit: int | str | None = None,
    batch_rows: int | None = None,
) -> NDArray[np.float64]:
    """Pearson correlation matrix of ``columns``, streamed in one pass over the rows.

    Without missing or infinite values this is ``np.corrcoef`` (to rounding); with
    them, pandas' pairwise-complete ``DataFrame.corr()``.

    >>> import polars as pl
    >>> lf = pl.LazyFrame({"a": [1.0, 2.0, None, 4.0], "b": [1.0, 2.0, 3.0, 4.5]})
    >>> pearson(lf, ["a", "b"]).round(6).tolist()
    [[1.0, 0.998625], [0.998625, 1.0]]
    """
    acc = _stream(
        lf, columns, where=where, memory_limit=memory_limit, batch_rows=batch_rows, direct=True
    )
    return acc.correlation(len(columns))


# --------------------------------------------------------------------------- blocks


def _column_block_width(n_rows: int, memory_limit: int | str | None, copies: int) -> int:
    budget = settings(memory_limit=memory_limit).memory_limit
    per_column = max(1, n_rows) * 8 * copies
    return max(1, int(budget // 2 // per_column))


def _dense(lf: pl.LazyFrame, columns: Sequence[str]) -> NDArray[np.float64]:
    import numpy as np

    frame = _float_frame(lf, columns).collect(engine="streaming")
    values = _as_array(frame) if frame.width else np.zeros((frame.height, 0))
    values[~np.isfinite(values)] = np.nan
    return values


def _by_block_pairs(
    lf: pl.LazyFrame,
    columns: Sequence[str],
    kernel: _Kernel,
    *,
    memory_limit: int | str | None,
    copies: int,
) -> NDArray[np.float64]:
    """Assemble a correlation matrix from ``kernel(Xa, Xb)`` over pairs of column blocks.

    Blocks are read separately and paired row by row, so a plan whose row order
    changes between collects (a join) is first staged to a temporary Parquet file.
    """
    d = len(columns)
    n = int(lf.select(pl.len()).collect().item())
    width = _column_block_width(n, memory_limit, copies)
    blocks = [list(range(s, min(d, s + width))) for s in range(0, d, width)]
    if len(blocks) > 1 and not stable_row_order(lf):
        with staged(_float_frame(lf, columns)) as stage:
            return _assemble(stage, columns, blocks, kernel)
    return _assemble(lf, columns, blocks, kernel)


def _assemble(
    lf: pl.LazyFrame, columns: Sequence[str], blocks: list[list[int]], kernel: _Kernel
) -> NDArray[np.float64]:
    import numpy as np

    d = len(columns)
    result = np.full((d, d), np.nan)
    for a, block_a in enumerate(blocks):
        values_a = _dense(lf, [columns[i] for i in block_a])
        for block_b in blocks[a:]:
            same = block_b is block_a
            values_b = values_a if same else _dense(lf, [columns[i] for i in block_b])
            part = kernel(values_a, values_b, same=same)
            result[np.ix_(block_a, block_b)] = part
            result[np.ix_(block_b, block_a)] = part.T
    return result


class _Kernel:
    def __call__(
        self, xa: NDArray[np.float64], xb: NDArray[np.float64], *, same: bool
    ) -> NDArray[np.float64]:
        raise NotImplementedError


def _average_ranks(values: NDArray[np.float64]) -> NDArray[np.float64]:
    from scipy.stats import rankdata

    ranks: NDArray[np.float64] = rankdata(values, axis=0, nan_policy="omit")
    return ranks


class _SpearmanKernel(_Kernel):
    """pandas' ``nancorr_spearman``: Pearson on ranks of the pairwise-complete rows."""

    def __call__(
        self, xa: NDArray[np.float64], xb: NDArray[np.float64], *, same: bool
    ) -> NDArray[np.float64]:
        import numpy as np

        n = xa.shape[0]
        full_a = np.asarray((~np.isnan(xa)).all(axis=0))
        full_b = np.asarray((~np.isnan(xb)).all(axis=0))
        result = np.full((xa.shape[1], xb.shape[1]), np.nan)
        fa, fb = np.flatnonzero(full_a), np.flatnonzero(full_b)
        if fa.size and fb.size and n > 0:
            ra = _average_ranks(xa[:, fa]) - (n + 1) / 2.0
            rb = ra if same else _average_ranks(xb[:, fb]) - (n + 1) / 2.0
            result[np.ix_(fa, fb)] = _cosine(ra, rb)
        if n == 0 or (full_a.all() and full_b.all()):
            return result
        # pairs with a missing value: each x (column of xa) against many y at once
        everything = _RankIndex(xb)
        partial = np.flatnonzero(~full_b)
        with_missing = _RankIndex(xb[:, partial]) if partial.size else None
        for i in range(xa.shape[1]):
            if not full_a[i]:
                result[i] = _spearman_one_vs_many(xa[:, i], everything)
            elif with_missing is not None:
                result[i, partial] = _spearman_one_vs_many(xa[:, i], with_missing)
        return result


class _RankIndex:
    """Columns sorted once, to rank them quickly on many different row subsets.

    ``ranks_within(rows)`` gives, for every column, the average ranks of its values
    among the rows in ``rows`` where it is not missing (pandas' ``rank_1d`` of the
    pairwise-complete rows) by counting, along each column's sorted order, how many
    chosen rows come before each tie group: no sorting per subset. Arrays are stored
    one column per row (``m × n``) so that every count runs over contiguous memory.
    """

    def __init__(self, values: NDArray[np.float64]) -> None:
        import numpy as np

        t = np.ascontiguousarray(values.T)
        m, n = t.shape
        self.m, self.n = m, n
        self.valid = ~np.isnan(t)
        self.order = np.argsort(t, axis=1, kind="stable")  # missing values last
        ordered = np.take_along_axis(t, self.order, axis=1)
        self.position = np.empty_like(self.order)
        np.put_along_axis(self.position, self.order, np.arange(n)[None, :], axis=1)
        # tie groups along each sorted column: [start, stop) indices, per position
        new = np.ones((m, n), dtype=bool)
        new[:, 1:] = ordered[:, 1:] != ordered[:, :-1]
        index = np.arange(n)[None, :]
        self.start = np.maximum.accumulate(np.where(new, index, 0), axis=1)
        last = np.ones((m, n), dtype=bool)
        last[:, :-1] = new[:, 1:]
        stop = np.where(last, index + 1, n)
        self.stop = np.minimum.accumulate(stop[:, ::-1], axis=1)[:, ::-1]
        self.valid_sorted = np.take_along_axis(self.valid, self.order, axis=1)

    def ranks_within(self, rows: NDArray[np.bool_]) -> NDArray[np.float64]:
        """``m × n`` average ranks (in row order) over ``rows`` and each column's values."""
        import numpy as np

        chosen = rows[self.order] & self.valid_sorted
        counts = np.zeros((self.m, self.n + 1), dtype=np.int32)
        np.cumsum(chosen, axis=1, dtype=np.int32, out=counts[:, 1:])
        before = np.take_along_axis(counts, self.start, axis=1)
        tied = np.take_along_axis(counts, self.stop, axis=1) - before
        ranks = before + (tied + 1) / 2.0
        return np.take_along_axis(ranks, self.position, axis=1)


def _cosine(a: NDArray[np.float64], b: NDArray[np.float64]) -> NDArray[np.float64]:
    import numpy as np

    cross = a.T @ b
    norm_a = np.einsum("ij,ij->j", a, a)
    norm_b = np.einsum("ij,ij->j", b, b)
    with np.errstate(divide="ignore", invalid="ignore"):
        result: NDArray[np.float64] = cross / np.sqrt(np.outer(norm_a, norm_b))
    result[~np.isfinite(result)] = np.nan
    return result


def _spearman_one_vs_many(x: NDArray[np.float64], ys: _RankIndex) -> NDArray[np.float64]:
    """Spearman of ``x`` with every column of ``ys``, each on its pairwise-complete rows."""
    import numpy as np

    rows = ~np.isnan(x)
    if not rows.any():
        return np.full(ys.m, np.nan)
    valid = rows[None, :] & ys.valid  # m × n: the pairwise-complete rows of every pair
    rank_y = ys.ranks_within(rows)
    # ranks of x on each pair's rows: count, along x's sorted order, the valid rows
    order = np.argsort(np.where(rows, x, np.inf), kind="stable")[: int(rows.sum())]
    xs = x[order]
    counts = np.zeros((ys.m, xs.size + 1), dtype=np.int32)
    np.cumsum(valid[:, order], axis=1, dtype=np.int32, out=counts[:, 1:])
    starts = np.r_[True, xs[1:] != xs[:-1]]
    group = np.cumsum(starts) - 1
    first = np.flatnonzero(starts)
    end = np.r_[first[1:], xs.size]
    before = counts[:, first[group]]
    tied = counts[:, end[group]] - before
    rank_x = np.zeros((ys.m, x.size))
    rank_x[:, order] = before + (tied + 1) / 2.0
    mean = (counts[:, -1:] + 1.0) / 2.0
    dx = np.where(valid, rank_x - mean, 0.0)
    dy = np.where(valid, rank_y - mean, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        result = np.einsum("ij,ij->i", dx, dy) / np.sqrt(
            np.einsum("ij,ij->i", dx, dx) * np.einsum("ij,ij->i", dy, dy)
        )
    result[~np.isfinite(result)] = np.nan
    return np.asarray(result, dtype=np.float64)


def spearman(
    lf: pl.LazyFrame,
    columns: Sequence[str],
    *,
    where: pl.Expr | None = None,
    memory_limit: int | str | None = None,
) -> NDArray[np.float64]:
    """Spearman correlation matrix as pandas' ``DataFrame.corr("spearman")``.

    >>> import polars as pl
    >>> lf = pl.LazyFrame({"a": [1.0, 2.0, 3.0, None], "b": [1.0, 4.0, 9.0, 16.0]})
    >>> spearman(lf, ["a", "b"]).tolist()
    [[1.0, 1.0], [1.0, 1.0]]
    """
    frame = lf if where is None else lf.filter(where)
    # ranking around missing values keeps about 20 block-sized arrays alive, not 8
    copies = 20 if _has_missing(frame, columns) else 8
    return _by_block_pairs(
        frame, columns, _SpearmanKernel(), memory_limit=memory_limit, copies=copies
    )


def _has_missing(lf: pl.LazyFrame, columns: Sequence[str]) -> bool:
    """Whether any of ``columns`` holds a null or a NaN (one streaming pass)."""
    if not columns:
        return False
    found = lf.select(
        pl.any_horizontal(
            pl.col(name).cast(pl.Float64).is_nan().fill_null(value=True).any() for name in columns
        )
    ).collect(engine="streaming")
    return bool(found.item())


class _KendallKernel(_Kernel):
    """tau-b over pairwise-complete rows: the cosine of row-pair sign vectors."""

    def __init__(self, memory_limit: int | str | None) -> None:
        self.memory_limit = memory_limit

    def __call__(
        self, xa: NDArray[np.float64], xb: NDArray[np.float64], *, same: bool
    ) -> NDArray[np.float64]:
        import numpy as np

        n, da, db = xa.shape[0], xa.shape[1], xb.shape[1]
        pairs = n * (n - 1) // 2
        if pairs * da * db > _KENDALL_MAX_WORK:
            msg = (
                f"Kendall correlation of {n:,} rows × {da:,} features needs about "
                f"{pairs * da * db:.1e} operations; aggregate to well level first or use "
                "method='spearman' or 'pearson'"
            )
            raise StatisticsError(msg)
        missing = bool(np.isnan(xa).any() or np.isnan(xb).any())
        budget = settings(memory_limit=self.memory_limit).memory_limit // 4
        # float32 sums of ±1 are exact while a chunk has fewer than 2**24 row pairs
        chunk = int(max(1024, min(pairs, 2**22, budget // max(1, (da + db) * 4 * 6))))
        concordance = np.zeros((da, db))
        untied_a = np.zeros((da, db)) if missing else np.zeros(da)
        untied_b = np.zeros((da, db)) if missing else np.zeros(db)
        first, second = np.triu_indices(n, k=1)
        for start in range(0, pairs, chunk):
            p, q = first[start : start + chunk], second[start : start + chunk]
            sa = np.nan_to_num(np.sign(xa[q] - xa[p]), nan=0.0).astype(np.float32)
            sb = sa if same else np.nan_to_num(np.sign(xb[q] - xb[p]), nan=0.0).astype(np.float32)
            concordance += (sa.T @ sb).astype(np.float64)
            if missing:
                va = (~np.isnan(xa[q]) & ~np.isnan(xa[p])).astype(np.float32)
                vb = va if same else (~np.isnan(xb[q]) & ~np.isnan(xb[p])).astype(np.float32)
                untied_a += (np.abs(sa).T @ vb).astype(np.float64)
                untied_b += (va.T @ np.abs(sb)).astype(np.float64)
            else:
                untied_a += np.abs(sa).sum(axis=0, dtype=np.float64)
                untied_b += np.abs(sb).sum(axis=0, dtype=np.float64)
        if not missing:
            untied_a = np.repeat(untied_a[:, None], db, axis=1)
            untied_b = np.repeat(untied_b[None, :], da, axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            tau = concordance / np.sqrt(untied_a) / np.sqrt(untied_b)
        tau[(untied_a == 0) | (untied_b == 0)] = np.nan
        np.clip(tau, -1.0, 1.0, out=tau)
        if same:
            counts = (~np.isnan(xa)).sum(axis=0)
            np.fill_diagonal(tau, np.where(counts >= 1, 1.0, np.nan))
        return tau


def kendall(
    lf: pl.LazyFrame,
    columns: Sequence[str],
    *,
    where: pl.Expr | None = None,
    memory_limit: int | str | None = None,
) -> NDArray[np.float64]:
    """Kendall tau-b correlation matrix as pandas' ``DataFrame.corr("kendall")``.

    >>> import polars as pl
    >>> lf = pl.LazyFrame({"a": [1.0, 2.0, 3.0, 4.0], "b": [1.0, 3.0, 2.0, 4.0]})
    >>> kendall(lf, ["a", "b"]).round(4).tolist()
    [[1.0, 0.6667], [0.6667, 1.0]]
    """
    frame = lf if where is None else lf.filter(where)
    kernel = _KendallKernel(memory_limit)
    return _by_block_pairs(frame, columns, kernel, memory_limit=memory_limit, copies=4)


def correlation_matrix(
    lf: pl.LazyFrame,
    columns: Sequence[str],
    *,
    method: CorrelationMethod = "pearson",
    where: pl.Expr | None = None,
    memory_limit: int | str | None = None,
) -> NDArray[np.float64]:
    """The ``d × d`` correlation matrix of ``columns`` with pycytominer's semantics.

    ``method`` is ``"pearson"`` (streamed), ``"spearman"`` or ``"kendall"``;
    missing and infinite values are left out pairwise, as pandas does. ``where``
    selects the rows (e.g. negative controls); passing it rather than a filtered
    frame lets a plain Parquet scan be read in bounded slices.
    """
    key = method.lower() if isinstance(method, str) else method
    compute = {"pearson": pearson, "spearman": spearman, "kendall": kendall}.get(key)
    if compute is None:
        msg = f"unknown correlation method {method!r}; choose one of {', '.join(_METHODS)}"
        raise ParameterError(msg)
    matrix = compute(lf, columns, where=where, memory_limit=memory_limit)
    _unit_diagonal(matrix)
    tie_exact_copies(lf, columns, matrix, where=where)
    return matrix


def _unit_diagonal(matrix: NDArray[np.float64]) -> None:
    """Set each defined diagonal entry to exactly 1, as pandas' ``corr`` gives it.

    Dividing a variance by its square root twice can leave 1 - 2**-52 there; the sums
    of ``|r|`` that rank features include the diagonal.
    """
    import numpy as np

    diagonal = np.diagonal(matrix).copy()
    diagonal[~np.isnan(diagonal)] = 1.0
    np.fill_diagonal(matrix, diagonal)

"""Compare two safetensors checkpoints: pair their tensors, measure each pair, give a verdict.

The question is whether B was made from A, and how: `same-plus-noise` (B = A + Gaussian noise
of one scale, the disguise of the 2024 case), `fine-tuned` (B is A trained further: highly
correlated, but the change is structured, low-rank or uneven across tensors) or `independent`
(no more correlation than two random initialisations). Every statistic is computed on a fixed,
seeded subsample of at most `sample` elements per tensor, with the same positions on both sides,
read through memory maps, so the cost is bounded by the sample, not the checkpoint size.
"""

from __future__ import annotations

import logging
import math
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import numpy as np
import numpy.typing as npt

from plagiarism.artifacts.discover import Found
from plagiarism.artifacts.safetensors_io import TensorInfo, TensorReader, decode, read_header
from plagiarism.errors import ArtifactError
from plagiarism.model import Side, Warning

log = logging.getLogger(__name__)

Verdict = Literal["same-plus-noise", "fine-tuned", "independent"]
PairedBy = Literal["name", "name-resized", "shape-value", "shape-order"]

# --- thresholds (docs/artifacts.md explains each) ------------------------------------------
# Median correlation below which two checkpoints are called independent. Two independent
# initialisations correlate at ~0 +- 1/sqrt(n); a fine-tune keeps correlations above ~0.9
# on almost every tensor, so 0.5 leaves a wide margin on both sides.
RELATED_CORRELATION = 0.5
# Fingerprint correlation needed to pair renamed tensors of the same shape by their values.
VALUE_PAIR_CORRELATION = 0.5
FINGERPRINT_SIZE = 512  # values per tensor used to pair renamed tensors
# Tensors with fewer elements carry too little signal for the noise tests (biases of tiny
# layers); they are still paired and reported.
MIN_ELEMENTS = 64
# Low-rank test: share of the energy of B - A in its top 5% singular values. iid noise puts
# ~0.1-0.2 there (Marchenko-Pastur); a LoRA-style change puts ~1.0 there.
LOWRANK_TOP_SHARE = 0.05
LOWRANK_MIN_ENERGY = 0.5
LOWRANK_MAX_SIDE = 256  # the submatrix of B - A whose singular values are computed
ROW_BLOCK = 4096  # contiguous elements per block when a tensor is sampled flat
# A per-tensor sigma agrees with the pooled one when within this relative distance, or within
# the sampling error of a standard deviation (1/sqrt(2n)) times 4, whichever is larger.
SIGMA_TOLERANCE = 0.05
# Rounding to a 16- or 8-bit dtype adds error of std ulp/sqrt(12). When that exceeds this share
# of the measured std of B - A, the residual is mostly rounding and the tensor is left out of
# the noise tests (a LayerNorm weight near 1.0 in BF16 has an ulp of 0.0078).
QUANTIZATION_SHARE = 0.25
MANTISSA_BITS = {"F64": 53, "F32": 24, "F16": 11, "BF16": 8, "F8_E4M3": 4, "F8_E5M2": 3}
MAX_TENSOR_ROWS = 5000  # per-tensor rows kept in the JSON; the counts cover them all


@dataclass(frozen=True, slots=True)
class Checkpoint:
    side: Side
    tensors: tuple[TensorInfo, ...]  # in natural order (layer numbers compared as numbers)
    files: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class TensorPair:
    a: TensorInfo
    b: TensorInfo
    paired_by: PairedBy


@dataclass(frozen=True, slots=True)
class TensorStats:
    """How B's tensor differs from A's, on the compared sample."""

    pair: TensorPair
    compared_shape: tuple[int, ...]
    elements: int  # elements compared
    subsampled: bool
    is_float: bool
    identical: bool
    correlation: float | None  # Pearson r of the values; None when either side is constant
    noise_std: float | None  # std of B - A
    noise_mean: float | None
    std_a: float | None
    relative_change: float | None  # ||B - A|| / ||A||
    residual_correlation: float | None  # corr(A, B - A): ~0 for independent additive noise
    residual_kurtosis: float | None  # excess kurtosis of B - A: ~0 for Gaussian noise
    lowrank_energy: float | None  # energy share of the top singular values of B - A
    lowrank_baseline: float | None  # the same share for iid Gaussian noise of that shape
    equal_share: float | None  # integer tensors: share of equal elements
    quantization_std: float | None  # rounding error expected from the coarser storage dtype

    @property
    def quantization_limited(self) -> bool:
        """Storage rounding, not the change, dominates B - A: the noise tests say nothing here."""
        if self.quantization_std is None or self.noise_std is None:
            return False
        return self.quantization_std > QUANTIZATION_SHARE * self.noise_std

    @property
    def lowrank(self) -> bool:
        if self.lowrank_energy is None or self.lowrank_baseline is None:
            return False
        return self.lowrank_energy >= max(LOWRANK_MIN_ENERGY, 2 * self.lowrank_baseline)


def _natural_key(name: str) -> list[tuple[int, int | str]]:
    # "layers.10" after "layers.9": renamed checkpoints keep layer numbers, not spellings.
    return [(0, int(p)) if p.isdigit() else (1, p) for p in re.split(r"(\d+)", name) if p]


def load_checkpoint(found: Found, max_header_bytes: int) -> tuple[Checkpoint | None, list[Warning]]:
    """Read the headers of one side's safetensors files (no tensor data is touched)."""
    warnings: list[Warning] = []
    tensors: dict[str, TensorInfo] = {}
    files: list[str] = []
    for path in found.weights:
        rel = found.relative(path)
        try:
            header = read_header(path, max_header_bytes)
        except ArtifactError as exc:
            warnings.append(Warning(found.side, rel, str(exc), skipped=True))
            continue
        files.append(rel)
        if header.problems:
            shown = "; ".join(header.problems[:3])
            more = f" (and {len(header.problems) - 3} more)" if len(header.problems) > 3 else ""
            warnings.append(
                Warning(
                    found.side,
                    rel,
                    f"{len(header.problems)} tensor(s) skipped: {shown}{more}",
                    skipped=True,
                )
            )
        for info in header.tensors:
            if info.name in tensors:
                warnings.append(
                    Warning(
                        found.side,
                        rel,
                        f"tensor {info.name[:200]} defined twice; the first definition is used",
                    )
                )
                continue
            tensors[info.name] = info
    if not files:
        return None, warnings
    ordered = sorted(tensors.values(), key=lambda t: _natural_key(t.name))
    return Checkpoint(found.side, tuple(ordered), tuple(files)), warnings


def _single_blas_thread() -> AbstractContextManager[object]:
    """One BLAS thread for our many small matrices.

    OpenBLAS's threads cost more than they give on 256x256 problems, and on a busy 2-core
    machine a threaded eigvalsh was measured 20-80x slower than a single-threaded one.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return nullcontext()
    limits: AbstractContextManager[object] = threadpool_limits(limits=1, user_api="blas")
    return limits


# --- sampling --------------------------------------------------------------------------------


def _rng(seed: int, shape: Sequence[int], purpose: int) -> np.random.Generator:
    # Seeded by shape, never by name: a renamed tensor gets the same positions on both sides.
    return np.random.default_rng([seed, purpose, len(shape), *shape])


def _as_matrix(shape: tuple[int, ...]) -> tuple[int, int]:
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return 1, shape[0]
    return shape[0], math.prod(shape[1:])


@dataclass(frozen=True, slots=True)
class _Plan:
    """Which elements of a (rows, cols) view to read: whole rows, or flat blocks."""

    rows: npt.NDArray[np.int64] | None  # selected rows (sorted), or None for flat blocks
    blocks: npt.NDArray[np.int64] | None  # starts of ROW_BLOCK-long flat blocks
    subsampled: bool


def _plan(shape: tuple[int, ...], sample: int, seed: int) -> _Plan:
    rows, cols = _as_matrix(shape)
    numel = rows * cols
    if numel <= sample:
        return _Plan(np.arange(rows, dtype=np.int64), None, False)
    rng = _rng(seed, shape, 1)
    if cols <= sample and rows > 1:
        k = max(1, sample // cols)
        chosen = np.sort(rng.choice(rows, size=min(k, rows), replace=False)).astype(np.int64)
        return _Plan(chosen, None, True)
    nblocks = max(1, sample // ROW_BLOCK)
    total_blocks = numel // ROW_BLOCK
    if total_blocks < 1:
        return _Plan(np.arange(rows, dtype=np.int64), None, False)
    starts = np.sort(rng.choice(total_blocks, size=min(nblocks, total_blocks), replace=False))
    return _Plan(None, (starts * ROW_BLOCK).astype(np.int64), True)


def _read(
    reader: TensorReader, info: TensorInfo, shape: tuple[int, ...], plan: _Plan
) -> npt.NDArray[np.float64]:
    """The planned elements of `info`, restricted to the leading `shape`, as a float64 matrix."""
    raw = reader.raw(info)
    if shape != info.shape:  # same name, resized first dimension (extended vocabulary)
        raw = raw[: shape[0]]
    rows, cols = _as_matrix(shape)
    view = raw.reshape(rows, cols)
    if plan.rows is not None:
        picked = view[plan.rows] if len(plan.rows) < rows else view
    else:
        assert plan.blocks is not None
        flat = view.reshape(-1)
        picked = np.concatenate([flat[s : s + ROW_BLOCK] for s in plan.blocks]).reshape(1, -1)
    out = decode(np.array(picked), info.dtype).astype(np.float64)
    del raw, view, picked
    return out


def _fingerprint(
    reader: TensorReader, info: TensorInfo, seed: int
) -> npt.NDArray[np.float64] | None:
    if not info.is_float or info.numel < 2:
        return None
    rng = _rng(seed, info.shape, 2)
    size = min(FINGERPRINT_SIZE, info.numel)
    idx = np.sort(rng.choice(info.numel, size=size, replace=False))
    raw = reader.raw(info).reshape(-1)
    values = decode(np.array(raw[idx]), info.dtype).astype(np.float64)
    del raw
    if not np.all(np.isfinite(values)) or values.std() == 0:
        return None
    normalised: npt.NDArray[np.float64] = (values - values.mean()) / values.std()
    return normalised


# --- pairing ---------------------------------------------------------------------------------


def pair_tensors(
    a: Checkpoint, b: Checkpoint, reader: TensorReader, seed: int
) -> tuple[list[TensorPair], list[TensorInfo], list[TensorInfo]]:
    """Pair by name; then, among the rest, by shape: by values where they agree, else by order."""
    by_name_b = {t.name: t for t in b.tensors}
    pairs: list[TensorPair] = []
    used_b: set[str] = set()
    rest_a: list[TensorInfo] = []
    for ta in a.tensors:
        tb = by_name_b.get(ta.name)
        if tb is not None and tb.shape == ta.shape:
            pairs.append(TensorPair(ta, tb, "name"))
            used_b.add(tb.name)
        else:
            rest_a.append(ta)
    rest_b = [t for t in b.tensors if t.name not in used_b]

    groups_a: dict[tuple[tuple[int, ...], bool], list[TensorInfo]] = defaultdict(list)
    groups_b: dict[tuple[tuple[int, ...], bool], list[TensorInfo]] = defaultdict(list)
    for t in rest_a:
        groups_a[(t.shape, t.is_float)].append(t)
    for t in rest_b:
        groups_b[(t.shape, t.is_float)].append(t)
    paired_a: set[str] = set()
    paired_b: set[str] = set()
    for key, members_a in groups_a.items():
        members_b = groups_b.get(key, [])
        if not members_b:
            continue
        matched = _pair_group(members_a, members_b, reader, seed)
        for ta, tb, how in matched:
            pairs.append(TensorPair(ta, tb, how))
            paired_a.add(ta.name)
            paired_b.add(tb.name)

    # Same name, different first dimension: an embedding or head grown for added tokens.
    leftover_b = {t.name: t for t in rest_b if t.name not in paired_b}
    unpaired_a: list[TensorInfo] = []
    for ta in rest_a:
        if ta.name in paired_a:
            continue
        tb = leftover_b.get(ta.name)
        if tb is not None and len(ta.shape) >= 1 and ta.shape[1:] == tb.shape[1:]:
            pairs.append(TensorPair(ta, tb, "name-resized"))
            del leftover_b[ta.name]
        else:
            unpaired_a.append(ta)
    order = {t.name: i for i, t in enumerate(a.tensors)}
    pairs.sort(key=lambda p: order[p.a.name])
    return pairs, unpaired_a, list(leftover_b.values())


def _pair_group(
    members_a: list[TensorInfo], members_b: list[TensorInfo], reader: TensorReader, seed: int
) -> list[tuple[TensorInfo, TensorInfo, PairedBy]]:
    if len(members_a) == 1 and len(members_b) == 1:
        return [(members_a[0], members_b[0], "shape-order")]
    out: list[tuple[TensorInfo, TensorInfo, PairedBy]] = []
    fa = [_fingerprint(reader, t, seed) for t in members_a]
    fb = [_fingerprint(reader, t, seed) for t in members_b]
    reader.close()
    left_a = set(range(len(members_a)))
    left_b = set(range(len(members_b)))
    ia = [i for i, f in enumerate(fa) if f is not None]
    ib = [j for j, f in enumerate(fb) if f is not None]
    if ia and ib:
        ma = np.stack([fa[i] for i in ia])  # type: ignore[misc]
        mb = np.stack([fb[j] for j in ib])  # type: ignore[misc]
        corr = ma @ mb.T / ma.shape[1]
        # Greedy on the strongest correlations: a copy's tensor correlates ~1 with its source
        # and ~0 with the others, so the greedy choice is the right one in every case that
        # matters; ambiguous ones fall through to order.
        flat = np.argsort(-corr, axis=None)
        for pos in flat:
            r, c = divmod(int(pos), corr.shape[1])
            if corr[r, c] < VALUE_PAIR_CORRELATION:
                break
            i, j = ia[r], ib[c]
            if i in left_a and j in left_b:
                out.append((members_a[i], members_b[j], "shape-value"))
                left_a.discard(i)
                left_b.discard(j)
    for i, j in zip(sorted(left_a), sorted(left_b), strict=False):
        out.append((members_a[i], members_b[j], "shape-order"))
    return out


# --- per-tensor statistics ---------------------------------------------------------------------


@lru_cache(maxsize=256)
def _iid_lowrank_share(rows: int, cols: int, seed: int) -> float:
    """Top-singular-value energy share of pure iid Gaussian noise of this shape (the baseline)."""
    noise = np.random.default_rng([seed, 3, rows, cols]).standard_normal((rows, cols))
    return _top_share(noise)


def _top_share(matrix: npt.NDArray[np.float64]) -> float:
    # Squared singular values are the eigenvalues of the Gram matrix; eigvalsh on it is several
    # times faster than an SVD and precise enough for an energy share.
    gram = matrix @ matrix.T if matrix.shape[0] <= matrix.shape[1] else matrix.T @ matrix
    energy = np.sort(np.clip(np.linalg.eigvalsh(gram), 0.0, None))[::-1]
    total = float(energy.sum())
    if total == 0.0:
        return 0.0
    k = max(1, math.ceil(LOWRANK_TOP_SHARE * len(energy)))
    return float(energy[:k].sum()) / total


def tensor_stats(pair: TensorPair, reader: TensorReader, sample: int, seed: int) -> TensorStats:
    shape = pair.a.shape
    if pair.paired_by == "name-resized":
        shape = (min(pair.a.shape[0], pair.b.shape[0]), *pair.a.shape[1:])
    plan = _plan(shape, sample, seed)
    xa = _read(reader, pair.a, shape, plan)
    xb = _read(reader, pair.b, shape, plan)
    reader.close()  # unmap now: resident memory stays at the size of the sample
    is_float = pair.a.is_float and pair.b.is_float
    none: dict[str, float | None] = dict(
        correlation=None, noise_std=None, noise_mean=None, std_a=None, relative_change=None,
        residual_correlation=None, residual_kurtosis=None, lowrank_energy=None,
        lowrank_baseline=None, equal_share=None, quantization_std=None,
    )  # fmt: skip
    base = dict(
        pair=pair, compared_shape=shape, elements=int(xa.size), subsampled=plan.subsampled,
        is_float=is_float,
    )  # fmt: skip
    if not is_float:
        equal = float(np.mean(xa == xb)) if xa.size else 1.0
        return TensorStats(**base, identical=equal == 1.0, **{**none, "equal_share": equal})  # type: ignore[arg-type]

    # Sums are finite exactly when no element is inf/NaN (barring overflow, which then only
    # costs the slower masked path): one cheap pass instead of two isfinite maps.
    all_finite = bool(np.isfinite(xa.sum()) and np.isfinite(xb.sum()))
    if all_finite:
        xa_f, xb_f = xa.reshape(-1), xb.reshape(-1)
    else:
        finite = np.isfinite(xa) & np.isfinite(xb)
        xa_f, xb_f = xa[finite], xb[finite]
    d = xb_f - xa_f
    identical = not d.any() if all_finite else bool(np.array_equal(xa, xb, equal_nan=True))
    stats = dict(none)
    n = d.size
    if n:
        # Centred dot products give every moment in a few BLAS passes; y - mean(y) is
        # (x - mean(x)) + (d - mean(d)), so B's moments follow without another pass.
        mean_x, mean_d = float(xa_f.mean()), float(d.mean())
        xc = xa_f - mean_x
        dc = d - mean_d
        sxx, sdd, sxd = float(xc @ xc), float(dc @ dc), float(xc @ dc)
        syy = sxx + sdd + 2 * sxd
        sxy = sxx + sxd
        sd = math.sqrt(sdd / n)
        stats["noise_std"] = sd
        stats["noise_mean"] = mean_d
        stats["std_a"] = math.sqrt(sxx / n)
        norm_a = float(np.sqrt(xa_f @ xa_f))
        stats["relative_change"] = float(np.sqrt(d @ d)) / norm_a if norm_a > 0 else None
        if sxx > 0 and syy > 0:
            stats["correlation"] = max(-1.0, min(1.0, sxy / math.sqrt(sxx * syy)))
        bits = min(MANTISSA_BITS[pair.a.dtype], MANTISSA_BITS[pair.b.dtype])
        if bits < 24:
            _, exponent = np.frexp(xa_f)
            ulp = np.where(xa_f == 0, 0.0, np.ldexp(1.0, exponent - bits))
            stats["quantization_std"] = float(np.sqrt(ulp @ ulp / n / 12.0))
        if sdd > 0:
            if sxx > 0:
                stats["residual_correlation"] = sxd / math.sqrt(sxx * sdd)
            if n >= MIN_ELEMENTS:
                sq = dc * dc
                stats["residual_kurtosis"] = float(sq @ sq) / n / (sdd / n) ** 2 - 3.0
    rows, cols = xa.shape
    if all_finite and not identical and len(shape) >= 2 and min(rows, cols) >= 16:
        rng = _rng(seed, shape, 4)
        r_idx = np.sort(rng.choice(rows, size=min(rows, LOWRANK_MAX_SIDE), replace=False))
        c_idx = np.sort(rng.choice(cols, size=min(cols, LOWRANK_MAX_SIDE), replace=False))
        sub = (xb - xa)[np.ix_(r_idx, c_idx)]
        stats["lowrank_energy"] = _top_share(sub)
        stats["lowrank_baseline"] = _iid_lowrank_share(len(r_idx), len(c_idx), seed)
    return TensorStats(**base, identical=identical, **stats)  # type: ignore[arg-type]


# --- verdict ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WeightsVerdict:
    verdict: Verdict
    noise_std: float | None
    noise_model: Literal["one-sigma", "relative", "none", "unresolved"] | None
    noise_rel_std: float | None
    sigma_max_deviation: float | None
    reasons: tuple[str, ...]


def _gaussian_residual(s: TensorStats) -> bool:
    """B - A looks like iid zero-mean Gaussian noise independent of A, on this tensor."""
    n = s.elements
    assert s.noise_std is not None and s.noise_std > 0
    se = 1.0 / math.sqrt(n)
    if s.residual_correlation is not None and abs(s.residual_correlation) > 0.05 + 5 * se:
        return False
    if s.noise_mean is not None and abs(s.noise_mean) > 5 * s.noise_std * se + 1e-12:
        return False
    if s.residual_kurtosis is not None and abs(s.residual_kurtosis) > max(
        0.5, 6 * math.sqrt(24 / n)
    ):
        return False
    return not s.lowrank


def _sigma_agreement(
    values: list[tuple[float, int]],
) -> tuple[float, float, int]:
    """Pooled scale of (sigma, n) pairs, the largest relative deviation, and how many disagree."""
    total = sum(n for _, n in values)
    if total == 0:
        return 0.0, 0.0, 0
    pooled = math.sqrt(sum(n * sd * sd for sd, n in values) / total)
    worst = 0.0
    outliers = 0
    for sd, n in values:
        dev = abs(sd / pooled - 1.0) if pooled > 0 else 0.0
        worst = max(worst, dev)
        if dev > max(SIGMA_TOLERANCE, 4.0 / math.sqrt(2 * n)):
            outliers += 1
    return pooled, worst, outliers


def decide(stats: Sequence[TensorStats]) -> WeightsVerdict:
    if stats and all(s.identical for s in stats):
        return WeightsVerdict(
            "same-plus-noise", 0.0, "none", None, 0.0,
            (f"all {len(stats)} paired tensors are identical on the compared sample",),
        )  # fmt: skip
    measured = [s for s in stats if s.is_float and s.elements >= MIN_ELEMENTS]
    if not measured:
        return WeightsVerdict(
            "independent", None, None, None, None,
            ("no floating-point tensor pair large enough to measure",),
        )  # fmt: skip
    correlated = [s.correlation for s in measured if s.correlation is not None]
    median = float(np.median(correlated)) if correlated else 0.0
    reasons = [f"median correlation {median:.4f} over {len(correlated)} tensors"]
    if median < RELATED_CORRELATION:
        reasons.append(f"below {RELATED_CORRELATION}: no more alike than independent weights")
        return WeightsVerdict("independent", None, None, None, None, tuple(reasons))

    changed_all = [s for s in measured if not s.identical and s.noise_std]
    changed = [s for s in changed_all if not s.quantization_limited]
    limited = len(changed_all) - len(changed)
    if limited:
        reasons.append(f"{limited} tensors left out of the noise tests: storage rounding dominates")
    scale = (
        math.sqrt(sum((s.noise_std or 0.0) ** 2 for s in changed) / len(changed))
        if changed
        else 0.0
    )
    # An identical tensor is evidence of an uneven change only when noise of the scale seen
    # elsewhere would have survived its storage rounding.
    unchanged = [
        s
        for s in measured
        if s.identical and (s.quantization_std or 0.0) * math.sqrt(12.0) < max(scale, 1e-30)
    ]
    lowrank = [s for s in changed if s.lowrank]
    structured = [s for s in changed if not _gaussian_residual(s)]
    if unchanged:
        reasons.append(f"{len(unchanged)} of {len(measured)} tensors unchanged (uneven change)")
    if lowrank:
        tested = sum(1 for s in changed if s.lowrank_energy is not None)
        reasons.append(f"difference is low-rank in {len(lowrank)} of {tested} matrices")
    if structured:
        reasons.append(
            f"difference is not iid Gaussian noise in {len(structured)} of {len(changed)} tensors"
        )
    pooled, worst, outliers = (
        _sigma_agreement([(s.noise_std or 0.0, s.elements) for s in changed])
        if changed
        else (0.0, 0.0, 0)
    )
    relative = [
        ((s.noise_std or 0.0) / s.std_a, s.elements) for s in changed if s.std_a and s.std_a > 0
    ]
    rel_pooled, rel_worst, rel_outliers = (
        _sigma_agreement(relative)
        if changed and len(relative) == len(changed)
        else (0.0, math.inf, 1)
    )
    if not changed and not unchanged and median >= 0.999:
        reasons.append("the change is below the storage precision of every tensor")
        return WeightsVerdict("same-plus-noise", None, "unresolved", None, None, tuple(reasons))
    if unchanged or structured or not changed:
        return WeightsVerdict("fine-tuned", None, None, None, worst, tuple(reasons))
    if outliers == 0:
        reasons.append(
            f"one sigma {pooled:.3g} explains all {len(changed)} tensors "
            f"(largest deviation {worst:.1%})"
        )
        return WeightsVerdict("same-plus-noise", pooled, "one-sigma", None, worst, tuple(reasons))
    if rel_outliers == 0:
        reasons.append(
            f"noise of one relative scale {rel_pooled:.3g} x std(A) explains all "
            f"{len(changed)} tensors (absolute sigma varies by up to {worst:.0%})"
        )
        return WeightsVerdict(
            "same-plus-noise", None, "relative", rel_pooled, worst, tuple(reasons)
        )
    reasons.append(
        f"noise scale differs between tensors ({outliers} of {len(changed)} away from the "
        f"pooled sigma {pooled:.3g}, up to {worst:.0%})"
    )
    return WeightsVerdict("fine-tuned", None, None, None, worst, tuple(reasons))


# --- the section -------------------------------------------------------------------------------


def _num(x: float | None, digits: int = 6) -> float | None:
    if x is None or not math.isfinite(x):
        return None
    return float(f"{x:.{digits}g}")


def _tensor_row(s: TensorStats) -> dict[str, object]:
    return {
        "a": s.pair.a.name,
        "b": s.pair.b.name,
        "paired_by": s.pair.paired_by,
        "shape_a": list(s.pair.a.shape),
        "shape_b": list(s.pair.b.shape),
        "dtype_a": s.pair.a.dtype,
        "dtype_b": s.pair.b.dtype,
        "elements_compared": s.elements,
        "subsampled": s.subsampled,
        "identical": s.identical,
        "correlation": _num(s.correlation),
        "noise_std": _num(s.noise_std),
        "relative_change": _num(s.relative_change),
        "residual_correlation": _num(s.residual_correlation, 3),
        "residual_kurtosis": _num(s.residual_kurtosis, 3),
        "lowrank_energy": _num(s.lowrank_energy, 3),
        "lowrank_baseline": _num(s.lowrank_baseline, 3),
        "lowrank": s.lowrank,
        "equal_share": _num(s.equal_share),
        "quantization_std": _num(s.quantization_std, 3),
        "quantization_limited": s.quantization_limited,
    }


def compare_weights(
    found_a: Found,
    found_b: Found,
    *,
    max_header_bytes: int,
    sample: int,
    seed: int,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[dict[str, object] | None, list[Warning]]:
    ckpt_a, warnings = load_checkpoint(found_a, max_header_bytes)
    ckpt_b, more = load_checkpoint(found_b, max_header_bytes)
    warnings += more
    if ckpt_a is None or ckpt_b is None:
        return None, warnings
    stats: list[TensorStats] = []
    with TensorReader() as reader, _single_blas_thread():
        pairs, unpaired_a, unpaired_b = pair_tensors(ckpt_a, ckpt_b, reader, seed)
        for i, pair in enumerate(pairs):
            try:
                stats.append(tensor_stats(pair, reader, sample, seed))
            except ArtifactError as exc:
                warnings.append(Warning(None, pair.a.name[:200], str(exc), skipped=True))
            if progress is not None:
                progress(i + 1, len(pairs))
    verdict = decide(stats)
    correlations = [s.correlation for s in stats if s.correlation is not None]

    def dtypes(c: Checkpoint) -> dict[str, int]:
        return dict(sorted(Counter(t.dtype for t in c.tensors).items()))

    section: dict[str, object] = {
        "verdict": verdict.verdict,
        "noise_std": _num(verdict.noise_std),
        "noise_model": verdict.noise_model,
        "noise_rel_std": _num(verdict.noise_rel_std),
        "sigma_max_deviation": _num(verdict.sigma_max_deviation, 3),
        "identical": bool(stats) and all(s.identical for s in stats),
        "reasons": list(verdict.reasons),
        "tensors_paired": len(stats),
        "paired_by": dict(sorted(Counter(s.pair.paired_by for s in stats).items())),
        "tensors_identical": sum(1 for s in stats if s.identical),
        "tensors_lowrank": sum(1 for s in stats if s.lowrank),
        "correlation": {
            "median": _num(float(np.median(correlations))) if correlations else None,
            "min": _num(min(correlations)) if correlations else None,
            "max": _num(max(correlations)) if correlations else None,
        },
        "a": _side(ckpt_a, found_a, unpaired_a),
        "b": _side(ckpt_b, found_b, unpaired_b),
        "sampling": {
            "max_elements_per_tensor": sample,
            "seed": seed,
            "tensors_subsampled": sum(1 for s in stats if s.subsampled),
            "method": "whole rows (or 4096-element blocks) at seeded random positions, the same "
            "positions on both sides; the low-rank test uses a random submatrix of at most "
            f"{LOWRANK_MAX_SIDE}x{LOWRANK_MAX_SIDE}",
        },
        "tensors": [_tensor_row(s) for s in stats[:MAX_TENSOR_ROWS]],
    }
    section["a"]["dtypes"] = dtypes(ckpt_a)  # type: ignore[index]
    section["b"]["dtypes"] = dtypes(ckpt_b)  # type: ignore[index]
    return section, warnings


def _side(c: Checkpoint, found: Found, unpaired: list[TensorInfo]) -> dict[str, object]:
    return {
        "folder": found.weights_dir,
        "files": list(c.files),
        "sharded": found.index is not None or len(c.files) > 1,
        "tensors": len(c.tensors),
        "parameters": sum(t.numel for t in c.tensors),
        "unpaired": len(unpaired),
        "unpaired_names": [t.name for t in unpaired[:50]],
    }

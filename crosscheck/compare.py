"""Comparing one tensor from a SUT with one from an oracle: shape, then dtype, then values.

The values test is per entry, |sut - ref| <= allowed, with ``allowed`` from ``tolerance``; the
relative difference is CS231n's, |a - b| / max(|a|, |b|), 0 where both are 0. The summary keeps
what a reader needs to judge the result: how many entries break it, the greatest
absolute and relative differences with their indices and the allowed values there, and the margin
(error / allowed, > 1 fails) at the worst entry.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import asdict, dataclass, field

import numpy as np


@dataclass(slots=True)
class Comparison:
    tensor: str
    against: str
    """The oracle (or 'oracle_a~oracle_b' for a pair of oracles)."""
    passed: bool
    problem: str | None = None
    """Why it failed before values were compared: shape or dtype."""
    mismatched: int = 0
    total: int = 0
    max_abs: float = 0.0
    max_abs_index: list[int] = field(default_factory=list)
    max_abs_allowed: float = 0.0
    max_rel: float = 0.0
    max_rel_index: list[int] = field(default_factory=list)
    max_rel_allowed: float = 0.0
    margin: float = 0.0
    """max(|sut - ref| / allowed): above 1 is a failure."""
    worst_index: list[int] = field(default_factory=list)
    worst_value: float = 0.0
    worst_reference: float = 0.0
    worst_allowed: float = 0.0
    detail: dict | None = None
    """For failing cases: 'abs_error' and 'allowed' per entry (nested lists), for heatmaps."""
    checked: str | None = None
    """Which entries were compared, for a sampled case (``crosscheck.sampling``); None: every entry.
    An index [] then names the probe along the random direction."""

    def to_json(self) -> dict:
        return asdict(self)


def _index(flat: int, shape: tuple[int, ...]) -> list[int]:
    """np.unravel_index, without its cost per call (a case unravels about 150 indices)."""
    if len(shape) == 2:
        return list(divmod(int(flat), shape[1]))
    index = []
    for n in reversed(shape):
        flat, i = divmod(int(flat), n)
        index.append(i)
    return index[::-1]


def _misfit(value: np.ndarray, shape: tuple[int, ...], expected_dtype: str | None) -> str | None:
    """Why ``value`` cannot be compared entry by entry: its shape, then its dtype (None if it can).

    Such a failure has no finite margin: it is as far from agreeing as a result can be.
    """
    if value.shape != shape:
        return f"shape {value.shape} != expected {shape}"
    if expected_dtype is not None and value.dtype != np.dtype(expected_dtype):
        return f"dtype {value.dtype} != expected {expected_dtype}"
    return None


def _errors(v: np.ndarray, ref: np.ndarray, allowed: np.ndarray):
    """Entry by entry (flat float64): |v - ref|, max(|v|, |ref|), the margin |v - ref| / allowed and the
    relative difference; an exact agreement has margin 0 (0 / 0), two zeros relative difference 0
    (CS231n's convention), and an overflow an infinite margin."""
    err = np.abs(v - ref)
    denom = np.maximum(np.abs(v), np.abs(ref))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        ratio = err / allowed
        rel = err / denom
    ratio[err == 0] = 0.0
    rel[denom == 0] = 0.0
    return err, denom, ratio, rel


def compare(tensor: str, against: str, value: np.ndarray, reference: np.ndarray, allowed: np.ndarray,
            expected_dtype: str | None = None) -> Comparison:
    """Compare ``value`` (SUT or oracle) with ``reference`` entry by entry within ``allowed``."""
    value, reference = np.asarray(value), np.asarray(reference)
    problem = _misfit(value, reference.shape, expected_dtype)
    if problem:
        return Comparison(tensor, against, False, problem=problem, margin=float("inf"))
    v = value.astype(np.float64, copy=False).reshape(-1)
    ref = reference.reshape(-1)
    allowed = np.broadcast_to(np.asarray(allowed, np.float64), value.shape).reshape(-1)
    shape = value.shape
    if not v.size:
        return Comparison(tensor, against, True, total=0)
    err, denom, ratio, rel = _errors(v, ref, allowed)
    bad = ~(err <= allowed)  # NaN counts as a mismatch
    if np.isnan(err).any():
        # NaN ranks as the worst of all, so a NaN entry is the one reported
        for x in (err, ratio, rel):
            x[np.isnan(x)] = np.inf
    i_abs, i_rel, i_worst = int(np.argmax(err)), int(np.argmax(rel)), int(np.argmax(ratio))
    flat = lambda x, i: float(x[i])  # noqa: E731
    return Comparison(
        tensor, against, passed=not bad.any(), mismatched=int(bad.sum()), total=int(v.size),
        max_abs=flat(err, i_abs), max_abs_index=_index(i_abs, shape), max_abs_allowed=flat(allowed, i_abs),
        max_rel=flat(rel, i_rel), max_rel_index=_index(i_rel, shape),
        max_rel_allowed=flat(allowed, i_rel) / flat(denom, i_rel) if flat(denom, i_rel) else 0.0,
        margin=flat(ratio, i_worst), worst_index=_index(i_worst, shape),
        worst_value=flat(v, i_worst), worst_reference=flat(ref, i_worst),
        worst_allowed=flat(allowed, i_worst),
    )


def compare_all(items) -> list[Comparison]:
    """``[compare(tensor, against, value, reference, allowed, expected_dtype) for ... in items]``, the same
    Comparisons, in one vectorized pass (``compare_flat``) over every tensor that can be compared entry by entry."""
    out: list[Comparison | None] = [None] * len(items)
    fit = []
    for i, (tensor, against, value, reference, allowed, expected_dtype) in enumerate(items):
        value, reference = np.asarray(value), np.asarray(reference)
        if value.size == 0 or _misfit(value, reference.shape, expected_dtype):
            out[i] = compare(tensor, against, value, reference, allowed, expected_dtype)
        else:
            fit.append((i, tensor, against, value, reference, allowed))
    if fit:
        flat = lambda arrays: np.concatenate([x.reshape(-1) for x in arrays], dtype=np.float64, casting="unsafe")  # noqa: E731
        done = compare_flat([f[1] for f in fit], [f[2] for f in fit], [f[3].shape for f in fit],
                            flat([f[3] for f in fit]), flat([f[4] for f in fit]),
                            flat([f[5] if isinstance(f[5], np.ndarray) and f[5].shape == f[3].shape
                                  else np.broadcast_to(np.asarray(f[5], np.float64), f[3].shape) for f in fit]))
        for f, c in zip(fit, done, strict=True):
            out[f[0]] = c
    return out


def compare_flat(tensors: list[str], against: list[str], shapes: list[tuple[int, ...]], v: np.ndarray,
                 ref: np.ndarray, allowed: np.ndarray) -> list[Comparison]:
    """``compare`` of every tensor laid end to end (each non-empty, in C order): ``v``, ``ref`` and ``allowed`` are
    1-D float64, tensor k's entries follow tensor k - 1's, and ``against[k]`` names its reference. One
    vectorized pass: a case compares about 60 tensors, each too small for NumPy's cost per call to be worth
    paying 60 times."""
    sizes = [math.prod(shape) for shape in shapes]
    ends = list(itertools.accumulate(sizes))
    starts_ = [end - size for end, size in zip(ends, sizes, strict=True)]
    err, denom, ratio, rel = _errors(v, ref, allowed)
    if np.isnan(ratio).any() or np.isnan(rel).any():  # NaN's ranking is compare's: let it say it
        return [compare(t, a, v[s:e].reshape(shape), ref[s:e].reshape(shape), allowed[s:e].reshape(shape))
                for t, a, shape, s, e in zip(tensors, against, shapes, starts_, ends, strict=True)]
    starts = np.array(starts_)
    mismatched = np.add.reduceat(~(err <= allowed), starts).tolist()
    # each tensor's np.argmax of err, rel and ratio (the first greatest entry), as flat positions, all at once
    ranked = np.stack([err, rel, ratio])
    peak = np.repeat(np.maximum.reduceat(ranked, starts, axis=1), sizes, axis=1)
    first = np.minimum.reduceat(np.where(ranked == peak, np.arange(v.size), v.size), starts, axis=1)
    i_abs, i_rel, i_worst = first
    numbers = zip(*np.stack([err[i_abs], allowed[i_abs], rel[i_rel], allowed[i_rel], denom[i_rel], ratio[i_worst],
                             v[i_worst], ref[i_worst], allowed[i_worst]]).tolist(), strict=True)
    local = first - starts
    row, col = np.divmod(local, [shape[1] if len(shape) == 2 else 1 for shape in shapes])
    index = [[[r, c] for r, c in zip(rs, cs, strict=True)] if len(shape) == 2 else [[n] for n in ns] if len(shape) == 1
             else [[], [], []] if not shape else [_index(n, shape) for n in ns]
             for shape, ns, rs, cs in zip(shapes, zip(*local.tolist(), strict=True), zip(*row.tolist(), strict=True),
                                          zip(*col.tolist(), strict=True), strict=True)]
    return [Comparison(tensor, against_, not bad, None, bad, total, e_abs, x_abs, a_abs, r_rel, x_rel,
                       a_rel / d_rel if d_rel else 0.0, margin, x_worst, value, reference, a_worst)
            for tensor, against_, bad, total, (e_abs, a_abs, r_rel, a_rel, d_rel, margin, value, reference, a_worst),
            (x_abs, x_rel, x_worst) in zip(tensors, against, mismatched, sizes, numbers, index, strict=True)]


def compare_probes(tensor: str, against: str, value: np.ndarray, probed: np.ndarray, allowed: np.ndarray,
                   probes, expected_dtype: str | None = None) -> Comparison:
    """Compare a full tensor ``value`` with another computation's ``probes`` of it (``probed``, one value a
    probe; ``crosscheck.sampling``), each within its ``allowed``."""
    value, probed = np.asarray(value), np.asarray(probed, np.float64)
    problem = _misfit(value, probes.shape, expected_dtype) or (
        f"{probed.shape} probe values != expected ({probes.count},)" if probed.shape != (probes.count,) else None)
    if problem:
        return Comparison(tensor, against, False, problem=problem, margin=float("inf"), checked=probes.describe())
    c = compare(tensor, against, probes.of(value), probed, allowed)
    c.max_abs_index, c.max_rel_index, c.worst_index = (
        probes.index(i[0]) for i in (c.max_abs_index, c.max_rel_index, c.worst_index))
    c.checked = probes.describe()
    return c

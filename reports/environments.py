"""Comparing environments: the same case (the same case JSON) checked in several of them.

The oracles' answers depend only on the case, not on the SUT, so an oracle that answers
differently in two environments shows the environment (a library version, a BLAS, a CPU) moving
the numbers. With ``--record-values`` every entry is compared: the largest difference per oracle
and tensor, and where it is. Without values only the comparison summaries can be set side by
side: the oracle's value at the worst entry (where both environments picked the same entry) and
the margin (which moves with the SUT as well); a passing case's compact record keeps its margins
alone, so it is compared by margin only.
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from crosscheck.check import FAILING
from reports.data import Case, Results, tensor_order

MAX_VERDICT_ROWS = 200


@dataclass
class Drift:
    """How often one oracle's answers moved between environments: the headline of the section."""

    oracle: str
    cases: set
    """Case keys compared in at least two environments."""
    differ: set
    """Case keys where some entry differs (with values), or the value at the worst entry where both
    environments picked the same one (without; the margin moves with the SUT too, so it is not counted)."""
    ulp: float = 0.0
    """The largest difference in units of the last place of the case's dtype (with values only)."""
    by_values: bool = True
    """Every comparison was entry by entry (--record-values on both sides)."""

    @property
    def headline(self) -> str:
        n, m = len(self.differ), len(self.cases)
        if not n:
            return f"{self.oracle} answers are identical in all {m} cases" + (
                "" if self.by_values else " (at the worst entry: values not recorded)")
        if self.by_values:
            return f"{self.oracle} answers differ in {n} of {m} cases, at most {self.ulp:.3g} ulp"
        return f"{self.oracle} answers differ in {n} of {m} cases (at the worst entry: values not recorded)"


@dataclass
class Largest:
    """The largest difference of one (oracle, tensor) over every shared case and pair of environments."""

    oracle: str
    tensor: str
    compared: int = 0
    identical: int = 0
    shape_differs: int = 0
    same_index: int = 0
    """Without values: comparisons whose worst entry is the same entry in both environments."""
    diff: float = -1.0
    relative: float = 0.0
    envs: tuple[str, str] = ("", "")
    case: Case | None = None
    index: tuple[int, ...] = ()
    a: float = math.nan
    b: float = math.nan
    margin_diff: float = -1.0
    margin_where: tuple = ()


def _first_per_env(results: Results) -> dict[str, dict[str, Case]]:
    """case key -> env -> the first record of that case in that env (in a fixed order)."""
    out: dict[str, dict[str, Case]] = defaultdict(dict)
    for c in sorted(results.cases, key=lambda c: (c.key, c.env, c.test, c.source, c.offset)):
        out[c.key].setdefault(c.env, c)
    return out


def _diff(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """|a − b| per entry; 0 where both are NaN (or the same infinity), inf where only one is finite."""
    a, b = np.atleast_1d(a), np.atleast_1d(b)
    with np.errstate(invalid="ignore"):
        d = np.abs(a - b)
    same = (a == b) | (np.isnan(a) & np.isnan(b))
    d[same] = 0.0
    d[np.isnan(d)] = np.inf
    return d


def compare(results: Results) -> dict | None:
    """Everything the report's environment section shows; None with fewer than two environments."""
    if len(results.envs) < 2:
        return None
    per_key = _first_per_env(results)
    shared = {k: envs for k, envs in per_key.items() if len(envs) > 1}
    verdicts = [(k, envs) for k, envs in sorted(shared.items())
                if len({c.verdict for c in envs.values()}) > 1]
    verdicts.sort(key=lambda kv: (min(FAILING.index(c.verdict) if c.verdict in FAILING else len(FAILING)
                                      for c in kv[1].values()), kv[0]))
    by_values: dict[tuple[str, str], Largest] = {}
    by_fields: dict[tuple[str, str], Largest] = {}
    with_values = without_values = 0
    drift: dict[str, Drift] = {}
    for _, envs in sorted(shared.items()):
        rows = [envs[e] for e in results.envs if e in envs]
        values, summaries = {}, {}
        for x, y in itertools.combinations(rows, 2):
            if x.has_values and y.has_values:
                with_values += 1
                for c in (x, y):
                    if c.env not in values:
                        values[c.env] = results.values(c) or {}
                _compare_values(by_values, x, y, values[x.env], values[y.env], drift)
            else:
                without_values += 1
                for c in (x, y):
                    if c.env not in summaries:
                        summaries[c.env] = _by_tensor(results.comparisons(c))
                _compare_fields(by_fields, x, y, summaries[x.env], summaries[y.env], drift)
    return {
        "shared": len(shared), "with_values": with_values, "without_values": without_values,
        "verdicts": verdicts[:MAX_VERDICT_ROWS], "verdicts_total": len(verdicts),
        "values": _tables(by_values), "fields": _tables(by_fields),
        "drift": [drift[o] for o in sorted(drift)],
    }


def differs(entry: Largest, by_values: bool) -> bool:
    """Whether a row of an oracle's table shows a difference between environments."""
    if by_values:
        return entry.identical < entry.compared or entry.shape_differs > 0
    return entry.diff > 0 or entry.margin_diff > 0


def _drift(drift: dict, oracle: str, key: str, by_values: bool) -> Drift:
    d = drift.setdefault(oracle, Drift(oracle, set(), set()))
    d.cases.add(key)
    d.by_values &= by_values
    return d


def _tables(found: dict[tuple[str, str], Largest]) -> list[tuple[str, list[Largest]]]:
    oracles = sorted({o for o, _ in found})
    return [(o, sorted((v for (oo, _), v in found.items() if oo == o), key=lambda v: tensor_order(v.tensor)))
            for o in oracles]


def _ulp(d: np.ndarray, a: np.ndarray, b: np.ndarray, dtype) -> float:
    """The largest of ``d`` in units of the last place of ``dtype`` at the larger of the two values."""
    try:
        kind = np.dtype(dtype if dtype in ("float16", "float32", "float64") else "float64")
    except TypeError:
        kind = np.dtype("float64")
    with np.errstate(invalid="ignore", over="ignore"):
        scale = np.maximum(np.abs(np.atleast_1d(a)), np.abs(np.atleast_1d(b))).astype(kind)
        ulps = d / np.spacing(scale).astype(np.float64)
    ulps[d == 0] = 0.0
    ulps[np.isnan(ulps)] = np.inf
    return float(ulps.max(initial=0.0))


def _compare_values(found, x: Case, y: Case, vx: dict, vy: dict, drift: dict) -> None:
    for oracle in sorted(set(vx) & set(vy)):
        ax, ay = vx[oracle], vy[oracle]
        if not isinstance(ax, dict) or not isinstance(ay, dict):
            continue
        d_oracle = _drift(drift, oracle, x.key, True)
        for tensor in sorted(set(ax) & set(ay), key=tensor_order):
            a, b = np.array(ax[tensor], dtype=float), np.array(ay[tensor], dtype=float)
            entry = found.setdefault((oracle, tensor), Largest(oracle, tensor))
            entry.compared += 1
            if a.shape != b.shape:
                entry.shape_differs += 1
                d_oracle.differ.add(x.key)
                d_oracle.ulp = math.inf
                continue
            d = _diff(a, b)
            if not d.any():
                entry.identical += 1
            else:
                d_oracle.differ.add(x.key)
                d_oracle.ulp = max(d_oracle.ulp, _ulp(d, a, b, x.case.get("dtype")))
            i = int(np.argmax(d)) if d.size else 0
            worst = float(d.reshape(-1)[i]) if d.size else 0.0
            if worst > entry.diff:
                index = tuple(int(j) for j in np.unravel_index(i, a.shape)) if a.ndim else ()
                va, vb = float(np.reshape(a, -1)[i]), float(np.reshape(b, -1)[i])
                scale = max(abs(va), abs(vb))
                entry.diff, entry.envs, entry.case, entry.index = worst, (x.env, y.env), x, index
                entry.a, entry.b = va, vb
                entry.relative = worst / scale if scale and math.isfinite(scale) else (0.0 if worst == 0 else math.inf)


def _by_tensor(comparisons) -> dict[tuple[str, str], object]:
    return {(c.against, c.tensor): c for c in comparisons}


def _compare_fields(found, x: Case, y: Case, sx: dict, sy: dict, drift: dict) -> None:
    for oracle, tensor in sorted(set(sx) & set(sy), key=lambda k: (k[0], tensor_order(k[1]))):
        cx, cy = sx[(oracle, tensor)], sy[(oracle, tensor)]
        entry = found.setdefault((oracle, tensor), Largest(oracle, tensor))
        entry.compared += 1
        dm = abs(cx.margin - cy.margin) if not (math.isnan(cx.margin) or math.isnan(cy.margin)) else math.inf
        if dm > entry.margin_diff:
            entry.margin_diff, entry.margin_where = dm, (x.env, y.env, x, cx.margin, cy.margin)
        if cx.worst_index is None or cx.worst_index != cy.worst_index:
            continue  # a compact record keeps the margin alone: no worst entry to set side by side
        entry.same_index += 1
        d_oracle = _drift(drift, oracle, x.key, False)
        a, b = cx.worst_reference, cy.worst_reference
        entry.identical += a == b or (math.isnan(a) and math.isnan(b))
        d = 0.0 if (a == b or (math.isnan(a) and math.isnan(b))) else abs(a - b)
        d = math.inf if math.isnan(d) else d
        if d > 0:
            d_oracle.differ.add(x.key)
        if d > entry.diff:
            scale = max(abs(a), abs(b))
            entry.diff, entry.envs, entry.case, entry.index = d, (x.env, y.env), x, cx.worst_index
            entry.a, entry.b = a, b
            entry.relative = d / scale if scale and math.isfinite(scale) else (0.0 if d == 0 else math.inf)

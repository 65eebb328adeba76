"""From facts to the bug: what the failing cases of a run have in common, and how the SUT is wrong.

``python -m crosscheck diagnose RESULTS.jsonl [--json]`` reads every case record (the generate
phase only: shrink and replay re-runs lean towards the failure) and reports findings, most telling
first, each with its evidence:

* **where**: the component the failures share, contrasted with the passing cases — the activation
  of the first diverging layer, the loss, the layout, the dtype, the reduction, batches of two or
  more examples, the kind of tensor (bias, weights) — e.g. "fails in 120/120 cases whose first
  divergence is at a leaky_relu layer; 0/406 passing cases have a leaky_relu layer";
* **which known bug**: with ``replay_catalogue`` (the command's default), the mutant catalogue is
  replayed on the failing cases and every bug that reproduces the SUT's first wrong tensor on all of
  them is named;
* **how**: a relation between the SUT's and the oracle's first diverging tensor that holds in
  every failing case where it can be read (each failing record keeps both tensors in full
  precision, ``check.TENSOR_MAX_ENTRIES``): a constant ratio (×10, ×2, −1), a ratio equal to the
  batch size m or to 1/m, a transpose, or a difference confined to the entries whose
  pre-activation is negative (read from the case, rebuilt from its seed).

A finding names candidates, not certainties: where two components are equally consistent with the
evidence it says so, and where no relation holds it says none.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import asdict, dataclass, field

import numpy as np

from crosscheck import activations, losses

CONTRAST = 0.5
"""A component explains the failures when it covers them all and at most this share of the passes."""
MIN_CONTRAST = 5
"""Fewer passing cases than this cannot contrast: every shared component is then reported."""


def _close(dtype: str) -> float:
    """How closely two numbers computed in ``dtype`` must agree to count as one: half their digits.
    It only separates 'constant' from 'varies' in a relation; the gate's allowance is the error model's."""
    from crosscheck import tolerance

    return math.sqrt(tolerance.unit_roundoff(dtype))


@dataclass
class Finding:
    component: str
    """An activation or loss name, or one of reduction, bias, weights, layout, dtype, examples, state, shape."""
    tensor: str
    """The kind of the first diverging tensor the failures share: dZ, dW, db, dA0, loss (or 'mixed')."""
    layers: list[int] = field(default_factory=list)
    relation: str | None = None
    matches: list[str] = field(default_factory=list)
    """Catalogue bugs that reproduce the SUT's answers (replay); empty when not replayed."""
    cases_failing: int = 0
    cases_total: int = 0
    summary: str = ""
    evidence: str = ""


def _kind(tensor: str | None) -> str:
    if tensor is None:
        return "none"
    return tensor if tensor in ("loss", "answer", "dA0") else tensor.rstrip("0123456789")


def _has(case: dict, component: tuple[str, str]) -> bool:
    what, value = component
    if what == "activation":
        return value in case["activations"]
    if what == "examples":
        return case.get("batch", 1) >= 2
    return case.get(what) == value


def _where(failing: list[dict], passing: list[dict]) -> list[tuple[tuple[str, str], int, int, str]]:
    """(component, failures it covers, passes that have it, words) for every candidate that covers
    every failure, best contrast first."""
    def at_first(r):
        layer = r.get("layer")
        return r["case"]["activations"][layer - 1] if layer else None

    candidates = []
    acts = {at_first(r) for r in failing}
    if len(acts) == 1 and None not in acts:
        (a,) = acts
        candidates.append((("activation", a), f"cases whose first divergence is at a {a} layer",
                           f"passing cases have a {a} layer"))
    for key in ("loss", "layout", "dtype", "reduction"):
        values = {r["case"].get(key) for r in failing}
        if len(values) == 1:
            (v,) = values
            candidates.append(((key, v), f"cases with {key} {v}", f"passing cases have {key} {v}"))
    if all(r["case"].get("batch", 1) >= 2 for r in failing):
        candidates.append((("examples", "m >= 2"), "cases with two or more examples",
                           "passing cases have two or more examples"))
    out = []
    for component, fail_words, pass_words in candidates:
        have = sum(_has(r["case"], component) for r in passing)
        if len(passing) >= MIN_CONTRAST and have / len(passing) > CONTRAST:
            continue  # most passing cases have it too: it does not tell
        words = (f"fails in {len(failing)}/{len(failing)} {fail_words}; {have}/{len(passing)} {pass_words}")
        out.append((component, len(failing), have, words))
    out.sort(key=lambda c: (c[2] / max(len(passing), 1), ["activation", "loss", "reduction", "examples",
                                                           "layout", "dtype"].index(c[0][0])))
    return out


def _differ(sut: np.ndarray, ref: np.ndarray, rel: float) -> np.ndarray:
    return ~np.isclose(sut, ref, rtol=rel, atol=rel * (np.abs(ref).max(initial=0) or 1))


UNREADABLE = object()
"""A case whose tensors carry no ratio (every differing entry is tiny): neither for nor against one."""


def _ratio(sut: np.ndarray, ref: np.ndarray, rel: float):
    """The constant k with SUT = k * oracle on every differing entry (to ``rel`` of the tensor's scale),
    None if there is none, UNREADABLE if no differing entry carries one (the oracle's are all zero)."""
    differ = _differ(sut, ref, rel)
    if not differ.any() or not np.abs(ref[differ]).max() > 0:
        return UNREADABLE
    i = np.argmax(np.abs(ref) * differ)  # read k where the oracle's entry is largest
    k = sut.flat[i] / ref.flat[i]
    scale = np.abs(sut).max() + abs(k) * np.abs(ref).max()
    return float(k) if (np.abs(sut[differ] - k * ref[differ]) <= rel * scale).all() else None


def _negative_only(record: dict, sut: np.ndarray, ref: np.ndarray, rel: float) -> bool | None:
    """Do the SUT and the oracle differ only where the layer's pre-activation is negative? (dZ only)"""
    tensor = record.get("first_divergence") or ""
    if _kind(tensor) != "dZ":
        return None
    from crosscheck import activations, problems

    try:
        problem = problems.build(record["case"])
    except Exception:  # noqa: BLE001  (a record from elsewhere: no relation then)
        return None
    params, X, _ = problem.rows64()
    A = X
    layer = record["layer"]
    for l in range(1, layer + 1):
        Z = A @ params[f"W{l}"] + params[f"b{l}"]
        A = activations.get(record["case"]["activations"][l - 1]).value(Z)
    if Z.shape != sut.shape:
        return None
    differ = _differ(sut, ref, rel)
    return bool(differ.any() and (Z[differ] < 0).all())


def _how(failing: list[dict]) -> str | None:
    """A relation between the SUT's and the oracle's first diverging tensor that holds in every failing
    case that kept them, or None."""
    kept = [r for r in failing if r.get("tensors")]
    if not kept:
        return None
    ratios, transposed, negative = [], [], []
    rels = []
    for r in kept:
        t, rel = r["tensors"], _close(r["case"].get("dtype", "float64"))
        rels.append(rel)
        sut, ref = np.asarray(t["sut"], np.float64), np.asarray(t["reference"], np.float64)
        if sut.shape != ref.shape:
            transposed.append(sut.shape == ref.T.shape and not _differ(sut, ref.T, rel).any())
            continue
        ratios.append((_ratio(sut, ref, rel), r["case"].get("batch", 1), r["case"]["sizes"][-1]))
        transposed.append(sut.ndim == 2 and sut.shape == sut.T.shape and _differ(sut, ref, rel).any()
                          and not _differ(sut, ref.T, rel).any())
        negative.append(_negative_only(r, sut, ref, rel))
    if transposed and all(transposed):
        return "transpose"
    rel = max(rels)
    readable = [r for r in ratios if r[0] is not UNREADABLE]
    ratios = readable if 2 * len(readable) >= len(ratios) else []
    if ratios and all(k is not None for k, _, _ in ratios):
        values = [k for k, _, _ in ratios]
        for name, of in (("m", 1), ("K", 2)):  # the batch size, the output width
            sizes = [r[of] for r in ratios]
            if len(set(sizes)) > 1:  # only a size that varies can be told from a constant
                if all(math.isclose(k, n, rel_tol=rel) for k, n in zip(values, sizes, strict=True)):
                    return f"ratio {name}"
                if all(math.isclose(k, 1 / n, rel_tol=rel) for k, n in zip(values, sizes, strict=True)):
                    return f"ratio 1/{name}"
        if all(math.isclose(k, values[0], rel_tol=rel) for k in values):
            return f"ratio {values[0]:.4g}"
    if negative and all(n for n in negative):
        return "only where z < 0"
    return None


REPLAY_CASES = 20
"""Failing cases the mutant catalogue is replayed on (the first ones, in record order)."""


def replay(failing: list[dict]) -> list[str] | None:
    """The catalogue bugs (``mutants.catalogue``) whose answers reproduce the SUT's first wrong tensor,
    within the error model's allowance for two computations in the case's dtype, on every failing case
    replayed; None when no failing record can be replayed (a sampled or op case, or no kept tensor)."""
    from crosscheck import contract, problems, tolerance
    from crosscheck.compare import compare
    from mutants.catalogue import CATALOGUE

    built = []
    for r in failing:
        case, kept = r["case"], r.get("tensors")
        if not kept or "sample" in case or case.get("kind", "mlp") != "mlp" or len(built) == REPLAY_CASES:
            continue
        try:
            problem = problems.build(case)
        except Exception:  # noqa: BLE001  (a record written elsewhere: it cannot be replayed)
            continue
        built.append((kept, problem, tolerance.bounds({**case, "layout": "rows"}, *problem.rows64()).S))
    if not built:
        return None
    matches = []
    for mutant in CATALOGUE:
        for kept, problem, S in built:
            key, case = kept["tensor"], problem.case
            try:
                answer = mutant.sut(dict(case), {k: v.copy() for k, v in problem.params.items()},
                                    problem.X.copy(), problem.Y.copy())
                value = (np.asarray(float(answer["loss"])) if key == "loss"
                         else contract.to_rows(case, {key: answer[key]})[key])
            except Exception:  # noqa: BLE001  (a mutant that cannot answer this case does not match it)
                break
            allowed = tolerance.allowed(S[key], case["dtype"], case["dtype"])
            if not compare(key, mutant.name, value, np.asarray(kept["sut"], np.float64), allowed).passed:
                break
        else:
            matches.append(mutant.name)
    return matches


def diagnose(records: list[dict], replay_catalogue: bool = False) -> list[Finding]:
    """Findings for the failing cases of one SUT's records (see the module docstring); with
    ``replay_catalogue`` each finding also names the catalogue bugs that reproduce the SUT's answers."""
    cases = [r for r in records if r.get("kind", "case") == "case" and r.get("phase") in (None, "generate", "explicit")]
    failing = [r for r in cases if r.get("verdict") == "fail" and r.get("first_divergence")]
    passing = [r for r in cases if r.get("verdict") == "pass"]
    if not failing:
        return []
    kinds = Counter(_kind(r["first_divergence"]) for r in failing)
    kind = kinds.most_common(1)[0][0] if len(kinds) == 1 else "mixed"
    layers = sorted({r["layer"] for r in failing if r.get("layer")})
    relation = _how(failing)
    total = len(failing) + len(passing)
    findings, strong = [], []
    for component, covered, have, words in _where(failing, passing):
        what, value = component
        name = value if what in ("activation", "loss") else what
        findings.append(Finding(name, kind, layers, relation, [], covered, total,
                                _sentence(name, kind, relation, covered), words))
        strong.append(have == 0 and len(passing) >= MIN_CONTRAST)
    if kind in ("db", "dW"):  # the tensor itself is a place: dZ of its layer agrees
        name = "bias" if kind == "db" else "weights"
        findings.append(Finding(name, kind, layers, relation, [], len(failing), total,
                                _sentence(name, kind, relation, len(failing)),
                                f"the first diverging tensor is {kind} in {len(failing)}/{len(failing)} failing "
                                f"cases, and dZ of the same layer agrees"))
        strong.append(False)

    def rank(i):
        f = findings[i]
        scaling = relation in ("ratio m", "ratio 1/m") and f.component == "reduction"
        order = [*activations.NAMES, *losses.NAMES, "bias", "weights", "reduction", "examples", "layout", "dtype"]
        return (not scaling, not strong[i], order.index(f.component) if f.component in order else len(order))

    keep = sorted(range(len(findings)), key=rank)
    findings, strong = [findings[i] for i in keep], [strong[i] for i in keep]
    if len(findings) > 1 and rank(0) == rank(1)[:2] + (rank(0)[2],) and strong[0] == strong[1] and (
            findings[0].component in (*activations.NAMES, *losses.NAMES)) == (
            findings[1].component in (*activations.NAMES, *losses.NAMES)):
        findings[0].summary += f" (equally consistent with the evidence: {findings[1].component})"
    if not findings:
        findings.append(Finding("shape", kind, layers, relation, [], len(failing), total,
                                f"{len(failing)} failing cases share no single component"
                                + (f"; relation: {relation}" if relation else ""), ""))
    if replay_catalogue:
        matches = replay(failing)
        if matches is not None:
            n = min(REPLAY_CASES, len(failing))
            for f in findings:
                f.matches = matches
            findings[0].summary += (f"; matches the catalogue's {', '.join(matches)} on the {n} cases replayed"
                                    if matches else "; no bug of the catalogue reproduces it")
    return findings


def _sentence(component: str, kind: str, relation: str | None, n: int) -> str:
    how = {None: "no simple relation to the oracle's", "transpose": "the transpose of the oracle's",
           "ratio m": "the oracle's times the batch size m", "ratio 1/m": "the oracle's divided by the batch size m",
           "ratio K": "the oracle's times the output width K",
           "ratio 1/K": "the oracle's divided by the output width K",
           "only where z < 0": "the oracle's except where z < 0"}.get(relation)
    if how is None:
        how = "the oracle's times " + relation.split()[1] if relation and relation.startswith("ratio") else relation
    return f"{component}: in all {n} failing cases the first wrong tensor is {kind}, {how}"


def render(findings: list[Finding]) -> str:
    if not findings:
        return "diagnosis: no failing case"
    lines = ["diagnosis (most telling first):"]
    for f in findings:
        lines.append(f"  * {f.summary}")
        if f.evidence:
            lines.append(f"      evidence: {f.evidence}")
        lines.append(f"      relation: {f.relation or 'none holds in every failing case'}"
                     + (f"; layers {', '.join(map(str, f.layers))}" if f.layers else "")
                     + (f"; catalogue: {', '.join(f.matches)}" if f.matches else ""))
    return "\n".join(lines)


def to_json(findings: list[Finding]) -> str:
    return json.dumps([asdict(f) for f in findings], indent=2)

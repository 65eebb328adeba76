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
  batch size m or to 1/m, a transpose, an offset per example, a rounding to a narrower dtype, or a
  value equal to another tensor of the case (``DERIVED``: db equal to the first example's dZ, a sum
  over the wrong axis, dA through dW, ...), or a difference confined to the entries whose
  pre-activation is negative or whose activation saturates (the case rebuilt from its seed and run
  through an oracle).

A file that mixes several bugs is diagnosed one distinct failure at a time (``failure``: the signature of
the first divergence, as ``crosscheck.hunt`` files it), each from its own failing cases against all the
passing ones; a tensor whose only fault is its dtype or shape is a failure of its own, never evidence of
a wrong formula.

A finding names candidates, not certainties: where two components are equally consistent with the
evidence it says so, and where no relation holds it says none.
"""

from __future__ import annotations

import copy
import functools
import json
import math
import re
from collections import Counter
from dataclasses import asdict, dataclass, field

import numpy as np

from crosscheck import activations, contract, losses

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
    """An activation or loss name, or one of reduction, bias, weights, layout, dtype, examples, state, shape,
    depth."""
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
    failure: str = ""
    """The distinct failure the finding is about (``failure``): 'values of dZ', 'dtype of dW', ...; the records
    of a file that mixes several are diagnosed one failure at a time."""


def _kind(tensor: str | None) -> str:
    if tensor is None:
        return "none"
    return tensor if tensor in ("loss", "answer", "dA0") else tensor.rstrip("0123456789")


# Signatures: what failed, in words ('dtype of dW', 'values of dZ at a sigmoid layer'). ``crosscheck.hunt`` files
# each failing case under its signatures; a results file is diagnosed one failure (``failure``) at a time.

_HOW = {"has dtype": "dtype", "has shape": "shape", "must be a numpy array": "type",
        "differs between two calls": "state", "is in the answer of one call": "state", "holds": "non-finite"}
"""How a contract problem's text (``contract.check_answer``, ``check._differences``) reads, and its signature."""
_PROBLEM = re.compile(r"^(?:first call: )?(?:missing key '(?P<missing>\w+)'|(?P<key>\w+) (?P<how>"
                      + "|".join(map(re.escape, _HOW)) + "))")


def contract_signature(problem: str) -> tuple[str, str] | None:
    """(tensor, signature) of one contract problem of a case: ('dW1', 'dtype of dW'), ('dA0', 'missing dA0'), ...;
    None for a problem of another kind."""
    match = _PROBLEM.match(problem)
    if match is None:
        return None
    if match["missing"]:
        return match["missing"], f"missing {_kind(match['missing'])}"
    return match["key"], f"{_HOW[match['how']]} of {_kind(match['key'])}"


def values_signature(case: dict, tensor: str) -> str:
    """The signature of wrong values first in ``tensor``: 'values of the loss', 'values of dZ at a sigmoid layer'."""
    if tensor == "loss":
        return "values of the loss"
    where = ""
    if _kind(tensor) == "dZ":
        where = f" at a {case['activations'][contract.layer_of(tensor) - 1]} layer"
    return f"values of {_kind(tensor)}{where}"


def first_signature(record: dict) -> str | None:
    """The signature a failing record's first divergence shows: its contract problem, else its values; None when
    it has no first divergence (it crashed, raised, timed out)."""
    first = record.get("first_divergence")
    if first is None:
        return None
    problems = record.get("problems") or []
    if first == "answer":  # no dict came back, or the inputs were changed
        return f"answer: {(problems or ['no answer'])[0].split(':')[0]}"
    for text in problems:
        found = contract_signature(text)
        if found and found[0] == first and not found[1].startswith("missing"):
            return found[1]
    return values_signature(record["case"], first)


def failure(record: dict) -> str:
    """The distinct failure a failing record is diagnosed with: its first signature, but 'values of dZ' at any
    activation (a wrong loss or reduction shows at whatever activation the output layer has: the activation is
    for the diagnosis to find), and a tensor that is right once transposed counted as wrong values (the same
    transposition gets a square one's values wrong). A tensor whose only fault is its dtype or shape, its values
    right, is a failure of its own: evidence of that fault, never of a wrong formula."""
    signature = first_signature(record)
    if signature.startswith("values of dZ"):
        return "values of dZ"
    if "transposed" in (_agree(record) or ""):
        return f"values of {_kind(record['first_divergence'])}"
    return signature


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


def _pre_activation(record: dict, shape: tuple) -> np.ndarray | None:
    """Z of the record's first diverging layer (rows layout, float64), rebuilt from its case (dZ only)."""
    if _kind(record.get("first_divergence") or "") != "dZ":
        return None
    rebuilt = _rebuild(record)
    Z = rebuilt.Z[record["layer"]] if rebuilt is not None else None
    return Z if Z is not None and Z.shape == shape else None


def _negative_only(record: dict, sut: np.ndarray, ref: np.ndarray, rel: float) -> bool | None:
    """Do the SUT and the oracle differ only where the layer's pre-activation is negative? (dZ only)"""
    Z = _pre_activation(record, sut.shape)
    if Z is None:
        return None
    differ = _differ(sut, ref, rel)
    return bool(differ.any() and (Z[differ] < 0).all())


SATURATED = 1e-3
"""An entry is saturated where the activation's |g'(z)| is below this share of its largest value."""


def _saturated_only(record: dict, sut: np.ndarray, ref: np.ndarray, rel: float) -> bool | None:
    """Do the SUT and the oracle differ only where the layer's activation is saturated? (dZ, elementwise only)"""
    Z = _pre_activation(record, sut.shape)
    act = activations.get(record["case"]["activations"][record["layer"] - 1]) if Z is not None else None
    if act is None or not act.elementwise or act.d1 is None:
        return None
    peak = float(np.max(act.d1(np.linspace(-40.0, 40.0, 8001))))
    differ = _differ(sut, ref, rel)
    return bool(differ.any() and (act.d1(Z[differ]) <= SATURATED * peak).all())


@dataclass
class _Rebuilt:
    """A failing case rebuilt from its JSON (the seed makes its arrays exact): the forward pass, the error
    model's scales and, when first asked for, one oracle's full answer; rows layout, float64."""

    case: dict
    problem: object
    A: list
    Z: list
    S: dict
    """The error model's scales of every tensor (``tolerance.Bounds.S``)."""
    oracle: str

    @functools.cached_property
    def grads(self) -> dict:
        from oracles import ORACLES

        try:
            answer = ORACLES[self.oracle].gradients(self.case, *self.problem.rows64())
        except Exception:  # noqa: BLE001  (an oracle that raises here gives no relation)
            return {}
        return {k: np.asarray(v, np.float64) for k, v in answer.items()}

    def dZ(self, l: int) -> np.ndarray:
        return self.grads[f"dZ{l}"]


def _rebuild(record: dict) -> _Rebuilt | None:
    """The case of a record, rebuilt, with the oracle it kept (or the first that can run; JAX last, as each new
    shape costs it a compile); None for a sampled or op case, or one that cannot be rebuilt."""
    case = record["case"]
    if "sample" in case or case.get("kind", "mlp") != "mlp":
        return None
    return _rebuilt(json.dumps(case, sort_keys=True), (record.get("tensors") or {}).get("oracle"))


@functools.lru_cache(maxsize=64)
def _rebuilt(case_json: str, kept: str | None) -> _Rebuilt | None:
    from crosscheck import problems, tolerance
    from oracles import ORACLES

    case = json.loads(case_json)
    name = next((n for n in sorted(ORACLES, key=lambda n: (n == "jax", n != kept)) if ORACLES[n].available()[0]),
                None)
    try:
        problem = problems.build(case)
        b = tolerance.bounds({**case, "layout": "rows"}, *problem.rows64())
    except Exception:  # noqa: BLE001  (a record written elsewhere: no relation from it)
        return None
    return None if name is None else _Rebuilt(case, problem, list(b.A), list(b.Z), b.S, name)


def _through(activation: str, Z: np.ndarray, dA: np.ndarray) -> np.ndarray:
    """dZ = J_g(Z)^T dA for the layer's activation, by a complex step (every activation's Jacobian is
    symmetric: diagonal, or softmax's)."""
    h = 1e-20 / max(float(np.abs(dA).max()), 1e-300)
    return activations.get(activation).value(Z + 1j * h * dA).imag / h


def _dA_through_dW(c: _Rebuilt, l: int, kind: str) -> np.ndarray | None:
    """dZ_l (or dA0) with dA_l = dZ_{l+1} dW_{l+1}^T: the gradient dW where the weights W belong."""
    L = len(c.case["activations"])
    above = 1 if kind == "dA0" else l + 1
    if above > L:
        return None
    dA = c.dZ(above) @ c.grads[f"dW{above}"].T
    return dA if kind == "dA0" else _through(c.case["activations"][l - 1], c.Z[l], dA)


DERIVED = {
    # relation: (the tensor kinds it applies to, the SUT's tensor it predicts from the rebuilt case)
    "first example only": (("db", "dW"), lambda c, l, kind: c.dZ(l)[:1] if kind == "db"
                           else c.A[l - 1][:1].T @ c.dZ(l)[:1]),
    "last example left out": (("db", "dW"), lambda c, l, kind: c.dZ(l)[:-1].sum(0, keepdims=True) if kind == "db"
                              else c.A[l - 1][:-1].T @ c.dZ(l)[:-1]),
    "sum over the wrong axis": (("db",), lambda c, l, kind: c.dZ(l).sum(1, keepdims=True)),
    "not summed over examples": (("db",), lambda c, l, kind: c.dZ(l)),
    "dA through dW": (("dZ", "dA0"), _dA_through_dW),
    "another layer's tensor": (("dZ", "dW", "db"), lambda c, l, kind: next(
        (c.grads[f"{kind}{j}"] for j in (l + 1, l - 1) if f"{kind}{j}" in c.grads
         and c.grads[f"{kind}{j}"].shape == c.grads[f"{kind}{l}"].shape), None)),
}
"""Relations that tie the SUT's wrong tensor to another tensor of the case (``_derived``)."""
DERIVED_CASES = 20
"""Failing cases rebuilt (and run through an oracle) to look for a DERIVED relation."""
ROUNDED = {"float16": (2.0 ** -11, 2.0 ** -25), "float32": (2.0 ** -24, 2.0 ** -150)}
"""A dtype the SUT's tensor may have passed through: its unit roundoff, and half its smallest spacing
(what rounding a subnormal may cost)."""


def _reading(value: np.ndarray, shape: tuple) -> np.ndarray:
    """``value`` in ``shape`` when it holds the same vector lying the other way ((n,), (n, 1), (1, n))."""
    if value.shape != shape and value.size == math.prod(shape) and (
            [n for n in value.shape if n != 1] == [n for n in shape if n != 1]):
        return value.reshape(shape)
    return value


def _same(sut: np.ndarray, other: np.ndarray, rel: float, scale: float) -> bool:
    """The same entries, to ``rel`` of ``scale`` (the right tensor's, so that a sum that cancels to ~0
    matches rounding noise), in one reading of the shape (a vector may lie either way)."""
    other = _reading(other, sut.shape)
    if sut.shape != other.shape:
        return False
    scale = max(scale, float(np.abs(other).max(initial=0)))
    return bool(np.isfinite(other).all() and np.allclose(sut, other, rtol=rel, atol=rel * (scale or 1)))


def _rounded(sut: np.ndarray, ref: np.ndarray, dtype: str) -> str | None:
    """'rounded to D' when the SUT's tensor is the oracle's rounded to a narrower dtype D (and no closer)."""
    if sut.shape != ref.shape:
        return None
    err = np.abs(sut - ref)
    for narrow, (u, tiny) in ROUNDED.items():
        if u > _u(dtype) and (err <= 1.01 * u * np.abs(ref) + tiny).all() and (
                err > 0.1 * u * np.abs(ref) + tiny).any():
            return f"rounded to {narrow}"
    return None


def _u(dtype: str) -> float:
    from crosscheck import tolerance

    return tolerance.unit_roundoff(dtype)


def _offset(failing: list[dict]) -> str | None:
    """'offset c per example' when the SUT's loss is the oracle's plus the same c for every example."""
    offsets = []
    for r in failing:
        t = r.get("tensors") or {}
        if t.get("tensor") != "loss":
            return None
        d = float(np.asarray(t["sut"]) - np.asarray(t["reference"]))
        offsets.append(d / r["case"].get("batch", 1) if r["case"].get("reduction") == "sum" else d)
    rel = max(_close(r["case"].get("dtype", "float64")) for r in failing)
    if offsets and all(math.isclose(o, offsets[0], rel_tol=rel) for o in offsets) and offsets[0] != 0:
        return f"offset {offsets[0]:.4g} per example"
    return None


def _derived(failing: list[dict]) -> str | None:
    """A DERIVED relation, or 'rounded to D', that holds in every failing case rebuilt (up to DERIVED_CASES)."""
    kept = [r for r in failing if r.get("tensors")][:DERIVED_CASES]
    if not kept:
        return None
    rounded = {_rounded(np.asarray(r["tensors"]["sut"], np.float64), np.asarray(r["tensors"]["reference"], np.float64),
                        r["case"].get("dtype", "float64")) for r in kept}
    if len(rounded) == 1 and None not in rounded:
        return rounded.pop()
    holds = {name: 0 for name in DERIVED}
    for r in kept:
        kind, l = _kind(r["tensors"]["tensor"]), r.get("layer") or 0
        c = _rebuild(r)
        if c is None:
            return None
        sut, rel = np.asarray(r["tensors"]["sut"], np.float64), _close(r["case"].get("dtype", "float64"))
        scale = float(np.abs(np.asarray(r["tensors"]["reference"], np.float64)).max(initial=0))
        for name, (kinds, predict) in DERIVED.items():
            if kind not in kinds:
                continue
            try:
                other = predict(c, l, kind)
            except (KeyError, IndexError, ValueError):
                other = None
            if other is not None and other.size and _same(sut, np.asarray(other, np.float64), rel, scale):
                holds[name] += 1
    return next((name for name, n in holds.items() if n == len(kept)), None)


def _agree(record: dict) -> str | None:
    """How the first wrong tensor was made comparable ('transposed', 'cast to float32', ...) when its values,
    so read, agree with every oracle (``check._salvage``): its only fault is its dtype or shape."""
    first = record["first_divergence"]
    for p in record.get("problems") or []:
        if p.startswith(f"{first} has ") and p.endswith(", its values agree with every oracle"):
            return p.split("; ")[-1].rsplit(", its values agree", 1)[0]
    return None


def _only_contract(record: dict) -> bool:
    """Is the record's first wrong tensor right once cast or reshaped (not transposed): only its dtype or shape
    is wrong?"""
    agree = _agree(record)
    return agree is not None and "transposed" not in agree


def _how(failing: list[dict]) -> str | None:
    """A relation between the SUT's and the oracle's first diverging tensor that holds in every failing
    case that kept them, or None."""
    agree = [_agree(r) for r in failing]
    if all(agree):  # only the dtype or the shape is wrong
        if all(a.startswith("transposed") for a in agree):
            return "transpose"
        return "right values, wrong " + ("dtype" if all(a.startswith("cast") for a in agree) else "shape")
    kept = [r for r in failing if r.get("tensors")]
    if not kept:
        return None
    ratios, negative, saturated = [], [], []
    transposed = [True for r, a in zip(failing, agree, strict=True) if not r.get("tensors") and a == "transposed"]
    rels = []
    for r in kept:
        t, rel = r["tensors"], _close(r["case"].get("dtype", "float64"))
        rels.append(rel)
        sut, ref = np.asarray(t["sut"], np.float64), np.asarray(t["reference"], np.float64)
        if sut.shape != ref.shape:
            transposed.append(sut.shape == ref.T.shape and not _differ(sut, ref.T, rel).any())
            ratios.append((None, 0, 0))  # a misshapen tensor is no multiple of the oracle's
            continue
        ratios.append((_ratio(sut, ref, rel), r["case"].get("batch", 1), r["case"]["sizes"][-1]))
        transposed.append(sut.ndim == 2 and sut.shape == sut.T.shape and _differ(sut, ref, rel).any()
                          and not _differ(sut, ref.T, rel).any())
        negative.append(_negative_only(r, sut, ref, rel))
        saturated.append(_saturated_only(r, sut, ref, rel))
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
            return f"ratio {values[0] + 0.0:.4g}"  # + 0.0: a lost term is 'ratio 0', never '-0'
    derived = _offset(kept) or _derived(kept)
    if derived:
        return derived
    if negative and all(n for n in negative):
        return "only where z < 0"
    if saturated and all(n for n in saturated):
        return "only where saturated"
    return None


REPLAY_CASES = 20
"""Failing cases the mutant catalogue is replayed on (the first ones, in record order)."""


def _answer(backprop, problem) -> dict:
    return backprop(dict(problem.case), {k: v.copy() for k, v in problem.params.items()}, problem.X.copy(),
                    problem.Y.copy())


def _right_before(key: str, answer: dict, rebuilt: _Rebuilt) -> bool:
    """Does a mutant's answer agree with the oracle on every tensor before ``key`` in backward order?"""
    from crosscheck import contract, tolerance
    from crosscheck.compare import compare

    case = rebuilt.case
    if not rebuilt.grads:
        return False
    for before in ["loss", *contract.backward_order(case)]:
        if before == key:
            return True
        if before not in answer or before not in rebuilt.grads:
            continue
        value = (np.asarray(float(answer["loss"])) if before == "loss"
                 else contract.to_rows(case, {before: np.asarray(answer[before])})[before])
        allowed = tolerance.allowed(rebuilt.S[before], case["dtype"], "float64")
        if not compare(before, "oracle", value, rebuilt.grads[before], allowed).passed:
            return False
    return True


def replay(failing: list[dict]) -> tuple[list[str], int] | None:
    """The catalogue bugs (``mutants.catalogue``) whose answers reproduce the SUT's first wrong tensor,
    within the error model's allowance for two computations in the case's dtype plus half the dtype's
    digits of the values (a buggy formula's own roundings), and agree with the oracle
    on every tensor before it (as the SUT did), on every failing case replayed, with the number of cases
    replayed; None when no failing record can be replayed (a sampled or op case, no kept tensor, or a first
    wrong tensor whose values agree once cast or reshaped: every bug right on that tensor would match it)."""
    from crosscheck import contract, tolerance
    from crosscheck.compare import compare
    from mutants.catalogue import CATALOGUE

    built = []
    for r in failing:
        kept = r.get("tensors")
        if not kept or len(built) == REPLAY_CASES or _only_contract(r):
            continue  # (a tensor whose values agree: every bug right on it would match)
        rebuilt = _rebuild(r)  # None: a sampled or op case, or a record written elsewhere
        if rebuilt is not None:
            built.append((kept, rebuilt, "state" in _broken(r)))
    if not built:
        return None
    matches = []
    for mutant in CATALOGUE:
        for kept, rebuilt, stateful in built:
            key, case, problem, S = kept["tensor"], rebuilt.case, rebuilt.problem, rebuilt.S
            fresh = copy.deepcopy(mutant.sut)  # no state from another replay
            try:
                answer = _answer(fresh, problem)
                if stateful:  # its answer depends on the calls before: it matches when it keeps state too
                    again = _answer(fresh, problem)
                    if np.array_equal(np.asarray(answer.get(key)), np.asarray(again.get(key))):
                        break
                    continue
                value = (np.asarray(float(answer["loss"])) if key == "loss"
                         else contract.to_rows(case, {key: answer[key]})[key])
                if not _right_before(key, answer, rebuilt):
                    break  # the SUT was right up to its first wrong tensor: a match must be too
            except Exception:  # noqa: BLE001  (a mutant that cannot answer this case does not match it)
                break
            sut = np.asarray(kept["sut"], np.float64)
            value = _reading(np.asarray(value), sut.shape)
            allowed = tolerance.allowed(S[key], case["dtype"], case["dtype"])
            if sut.shape != allowed.shape:  # a misshapen answer: held to the largest allowance of the tensor
                allowed = np.full(sut.shape, allowed.max(initial=0.0))
            # a buggy formula has roundings of its own that the correct one's error model does not charge
            # (1 - A at a saturated sigmoid): half the dtype's digits of the values, as the relations read them
            with np.errstate(invalid="ignore"):
                allowed = allowed + _close(case["dtype"]) * np.maximum(np.abs(sut), np.abs(value))
            if not compare(key, mutant.name, value, sut, allowed).passed:
                break
        else:
            matches.append(mutant.name)
    return matches, len(built)


def diagnose(records: list[dict], replay_catalogue: bool = False) -> list[Finding]:
    """Findings for the failing cases of one SUT's records (see the module docstring), one distinct failure at a
    time (``failure``), the failure with the most cases first; with ``replay_catalogue`` each finding also names
    the catalogue bugs that reproduce the SUT's answers on its failure's cases."""
    cases = [r for r in records if r.get("kind", "case") == "case" and r.get("phase") in (None, "generate", "explicit")]
    failing = [r for r in cases if r.get("verdict") == "fail" and r.get("first_divergence")]
    passing = [r for r in cases if r.get("verdict") == "pass"]
    out = []
    for name, group in _grouped(failing, failure):
        findings, strong = _findings(group, passing)
        parts = [(name, group, findings)]
        by_activation = [(n, part, *_findings(part, passing)) for n, part in _grouped(group, first_signature)]
        if len(by_activation) > 1 and (not strong or all(
                s and s[0] and f[0].component in activations.NAMES for _, _, f, s in by_activation)):
            # the cases share nothing, or each activation's cases have it and no passing case does (two wrong
            # derivatives, say): each activation's cases on their own
            parts = [(n, part, f) for n, part, f, _ in by_activation]
        for n, part, findings in parts:
            for f in findings:
                f.failure = n
            if replay_catalogue:
                _credit(findings, part)
            out += findings
    return out


def _grouped(records: list[dict], key) -> list[tuple[str, list[dict]]]:
    """``records`` grouped by ``key``, the group with the most records first (then the one seen first)."""
    groups: dict[str, list[dict]] = {}
    for r in records:
        groups.setdefault(key(r), []).append(r)
    return sorted(groups.items(), key=lambda g: -len(g[1]))


def _credit(findings: list[Finding], failing: list[dict]) -> None:
    """The catalogue bugs that reproduce the SUT's answers on ``failing`` (``replay``), named on every finding
    about them and said at the end of the first one."""
    replayed = replay(failing)
    if replayed is None:
        return
    matches, n = replayed
    for f in findings:
        f.matches = matches
    findings[0].summary += (f"; matches the catalogue's {', '.join(matches)} on the {n} cases replayed"
                            if matches else "; no bug of the catalogue reproduces it")


def _findings(failing: list[dict], passing: list[dict]) -> tuple[list[Finding], list[bool]]:
    """The findings for the failing cases of one failure, most telling first, and for each whether it is strong
    (no passing case has its component, a broken contract, ...); no such flag when the one finding says they share
    no component."""
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
    broken = Counter(name for r in failing for name in _broken(r))
    broke = {name for name, n in broken.items() if n >= BROKEN_SHARE * len(failing)}
    for name in sorted(broke):  # (nearly) every failing answer breaks the contract the same way
        findings.append(Finding(name, kind, layers, relation, [], broken[name], total,
                                _sentence(name, kind, relation, len(failing)),
                                f"{BROKEN[name][1]} in {broken[name]}/{len(failing)} failing cases; "
                                f"no passing case does"))
        strong.append(not (name == "shape" and relation in SHAPE_SYMPTOM))
    if relation in SHAPE_SYMPTOM:
        broke.discard("shape")
    if kind in ("db", "dW"):  # the tensor itself is a place: dZ of its layer agrees
        name = "bias" if kind == "db" else "weights"
        findings.append(Finding(name, kind, layers, relation, [], len(failing), total,
                                _sentence(name, kind, relation, len(failing)),
                                f"the first diverging tensor is {kind} in {len(failing)}/{len(failing)} failing "
                                f"cases, and dZ of the same layer agrees"))
        strong.append(False)
    depth = _depth(failing)
    if depth:
        findings.append(Finding("depth", kind, layers, relation, [], len(failing), total,
                                _sentence("depth", kind, relation, len(failing)), depth))
        strong.append(False)

    def rank(i):
        f = findings[i]
        preferred = PREFERRED.get(relation) == f.component
        order = [*activations.NAMES, *losses.NAMES, "bias", "weights", "depth", "reduction", "examples", "layout",
                 "dtype"]
        return (not preferred, f.component not in broke, not strong[i],
                order.index(f.component) if f.component in order else len(order))

    keep = sorted(range(len(findings)), key=rank)
    keep = [i for n, i in enumerate(keep) if findings[i].component not in {findings[j].component for j in keep[:n]}]
    findings, strong = [findings[i] for i in keep], [strong[i] for i in keep]
    named = (*activations.NAMES, *losses.NAMES)
    if len(findings) > 1 and rank(0)[:-1] == rank(1)[:-1] and (
            findings[0].component in named) == (findings[1].component in named):
        findings[0].summary += f" (equally consistent with the evidence: {findings[1].component})"
    if not findings:
        return [Finding("shape", kind, layers, relation, [], len(failing), total,
                        f"{len(failing)} failing cases share no single component"
                        + (f"; relation: {relation}" if relation else ""), "")], []
    return findings, strong


BROKEN = {
    # component: (what a problem of the record says, in words)
    "state": ("state kept between calls", "the answer differs between two calls with the same inputs"),
    "dtype": (" has dtype ", "a tensor comes back in the wrong dtype"),
    "shape": (" has shape ", "a tensor comes back in the wrong shape"),
}
"""Ways an answer breaks the contract that are a component of their own (read from a record's problems)."""
BROKEN_SHARE = 0.9
"""A way of breaking the contract is a component when at least this share of the failing answers show it (a
state kept between calls can leave one call right by chance: a zero gradient added to)."""
PREFERRED = {"ratio m": "reduction", "ratio 1/m": "reduction", "rounded to float16": "dtype",
             "rounded to float32": "dtype", "sum over the wrong axis": "bias", "not summed over examples": "bias",
             "right values, wrong dtype": "dtype", "right values, wrong shape": "shape"}
"""A relation that names its component: a factor of the batch size is the reduction's, a rounding the dtype's,
a sum over the wrong axis the bias's (the wrong shape it gives is a symptom)."""
SHAPE_SYMPTOM = ("transpose", "sum over the wrong axis", "not summed over examples")
"""Relations that explain a wrong shape: the shape is then a symptom, not the component."""


def _broken(record: dict) -> set[str]:
    return {name for name, (text, _) in BROKEN.items() if any(text in p for p in record.get("problems") or [])}


def _depth(failing: list[dict]) -> str:
    """Words for where in the network's depth every failure starts, when it does not depend on the activation
    there: always in layer 1 (a backward loop that stops short), or always below the output layer (the dA a
    layer passes down); '' otherwise."""
    def layer(r):
        return 0 if r["first_divergence"] == "dA0" else r.get("layer")

    at = [(layer(r), len(r["case"]["activations"])) for r in failing]
    if any(layer_ is None for layer_, _ in at):
        return ""
    deepest = max(L for _, L in at)
    if all(layer_ <= 1 for layer_, _ in at) and deepest >= 3:
        return (f"the first divergence is in layer 1 (or dA0) in {len(at)}/{len(at)} failing cases, in networks of "
                f"up to {deepest} layers, whatever its activation")
    if all(layer_ < L for layer_, L in at):
        return (f"the first divergence is below the output layer in {len(at)}/{len(at)} failing cases, whatever "
                f"the activation there: what a layer passes down (dA) is wrong")
    if all(layer_ <= 1 for layer_, _ in at) and deepest >= 2:
        return f"the first divergence is in layer 1 (or dA0) in {len(at)}/{len(at)} failing cases"
    return ""


def _sentence(component: str, kind: str, relation: str | None, n: int) -> str:
    how = {None: "no simple relation to the oracle's", "transpose": "the transpose of the oracle's",
           "ratio m": "the oracle's times the batch size m", "ratio 1/m": "the oracle's divided by the batch size m",
           "ratio K": "the oracle's times the output width K",
           "ratio 1/K": "the oracle's divided by the output width K",
           "only where z < 0": "the oracle's except where z < 0",
           "only where saturated": "the oracle's except where the activation saturates (g' near 0)",
           "first example only": "the first example's alone, not a sum over the examples",
           "last example left out": "a sum over the examples that leaves the last one out",
           "sum over the wrong axis": "dZ summed over the wrong axis (the units, not the examples)",
           "not summed over examples": "dZ itself, not summed over the examples",
           "dA through dW": "what dA = dZ dW^T gives one layer up (dW where the weights W belong)",
           "another layer's tensor": "the oracle's of the neighbouring layer",
           "rounded to float16": "the oracle's rounded to float16",
           "rounded to float32": "the oracle's rounded to float32",
           "right values, wrong dtype": "the oracle's values in the wrong dtype",
           "right values, wrong shape": "the oracle's values in the wrong shape"}.get(relation)
    if how is None and relation and relation.startswith("offset"):
        how = f"the oracle's plus {relation.split()[1]} per example"
    if how is None:
        how = "the oracle's times " + relation.split()[1] if relation and relation.startswith("ratio") else relation
    return f"{component}: in all {n} failing cases the first wrong tensor is {kind}, {how}"


def render(findings: list[Finding]) -> str:
    if not findings:
        return "diagnosis: no failing case"
    failures = list(dict.fromkeys(f.failure for f in findings))
    if len(failures) == 1:
        return "\n".join(["diagnosis (most telling first):", *_lines(findings, "  ")])
    lines = [f"diagnosis: {len(failures)} distinct failures, each diagnosed on its own (most failing cases first)"]
    for i, name in enumerate(failures, 1):
        mine = [f for f in findings if f.failure == name]
        n = max(f.cases_failing for f in mine)
        lines.append(f"{i}. {name}: {n} failing case{'s' if n != 1 else ''}, most telling finding first")
        lines += _lines(mine, "   ")
    return "\n".join(lines)


def _lines(findings: list[Finding], indent: str) -> list[str]:
    lines = []
    for f in findings:
        lines.append(f"{indent}* {f.summary}")
        if f.evidence:
            lines.append(f"{indent}    evidence: {f.evidence}")
        lines.append(f"{indent}    relation: {f.relation or 'none holds in every failing case'}"
                     + (f"; layers {', '.join(map(str, f.layers))}" if f.layers else "")
                     + (f"; catalogue: {', '.join(f.matches)}" if f.matches else ""))
    return lines


def to_json(findings: list[Finding]) -> str:
    return json.dumps([asdict(f) for f in findings], indent=2)

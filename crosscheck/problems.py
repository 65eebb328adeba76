"""From a case dict to concrete arrays, deterministically: the same case always gives the same
params, X and Y, so a case's JSON is its whole reproduction.

Besides the contract's keys a generated case carries ``batch`` (m), ``seed`` and ``scale``. The
builder keeps every case well posed in its dtype, constructively rather than by rejection:

* output caps: for losses that take the log of an output (bce, cross_entropy) the last layer is
  scaled so that |Z_L| <= OUTPUT_CAP[dtype]; past that, 1 - a loses every digit and no correct
  float32 implementation can be held to a first-order error bound. The same cap keeps hinge on
  saturating outputs (sigmoid, softmax) clear of margins a_k - a_c + 1 that only rounding
  separates from zero (a_k -> 0 while a_c -> 1);
* kink clearance: an example whose relu / leaky_relu pre-activation or hinge margin lies within
  rounding distance of its kink (``tolerance.kink_clearance``) gets a fresh input row (and, every
  few tries, the network fresh weights, for kinks that no input moves), so that the SUT and the
  oracles always take the same branch.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from crosscheck import contract, losses, tolerance

SCALES = {"small": 0.1, "unit": 1.0, "large": 4.0}
"""Multiplier on He-style weights N(0, 1/fan_in), on inputs N(0, 1) and on biases N(0, 1/4)."""
assert tuple(SCALES) == contract.SCALES, "the contract names the scales a SUT may declare"
OUTPUT_CAP = {"float64": 15.0, "float32": 6.0}
LOG_OF_OUTPUT = ("bce", "cross_entropy")


def output_capped(case: dict) -> bool:
    """Does the builder cap |Z_L| for this case (see the module docstring)?"""
    saturating_hinge = case["loss"] == "hinge" and case["activations"][-1] in ("sigmoid", "softmax")
    return case["loss"] in LOG_OF_OUTPUT or saturating_hinge
MAX_REDRAWS = 50
REDRAW_PARAMS_EVERY = 5


class IllPosedCase(ValueError):
    """The builder could not make the case well posed (practically never: continuous draws)."""


@dataclass
class Problem:
    """One generated case and its arrays, in the case's layout and dtype."""

    case: dict
    params: dict[str, np.ndarray]
    X: np.ndarray
    Y: np.ndarray
    S: dict[str, np.ndarray] | None = field(default=None, repr=False, compare=False)
    """The error model's bounds of these arrays (``tolerance.bounds(...).S``, rows layout), kept from the
    build that computed them; None: ``bounds`` computes them."""

    def bounds(self) -> dict[str, np.ndarray]:
        """``tolerance.bounds(...).S`` of this problem (rows layout, float64), computed once."""
        if self.S is None:  # on C-ordered arrays, as build has them: the last bits of a product follow the layout
            params, X, Y = self.rows64()
            params = {k: np.ascontiguousarray(v) for k, v in params.items()}
            self.S = tolerance.bounds({**self.case, "layout": "rows"}, params, np.ascontiguousarray(X),
                                      np.ascontiguousarray(Y)).S
        return self.S

    def rows64(self) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
        """(params, X, Y) in the rows layout and float64: how the oracles and the error model see it."""
        t = contract.to_rows(self.case, {**self.params, "X": self.X, "Y": self.Y})
        t = {k: np.asarray(v, np.float64) for k, v in t.items()}
        X, Y = t.pop("X"), t.pop("Y")
        return t, X, Y


def _targets(rng, loss: str, m: int, k: int) -> np.ndarray:
    kind = losses.get(loss).targets
    if kind == "onehot":
        return np.eye(k)[rng.integers(0, k, m)]
    if kind == "binary":
        return rng.integers(0, 2, (m, k)).astype(np.float64)
    return rng.normal(size=(m, k))


def build(case: dict) -> Problem:
    """The arrays of a generated case (needs ``batch``, ``seed`` and ``scale`` beside the contract keys)."""
    contract.validate_case(case)
    for key in ("batch", "seed", "scale"):
        if key not in case:
            raise contract.ContractError(f"a generated case needs key {key!r}")
    if case["scale"] not in SCALES:
        raise contract.ContractError(f"case['scale'] = {case['scale']!r}; valid: {', '.join(SCALES)}")
    sizes, m, dtype = case["sizes"], case["batch"], np.dtype(case["dtype"])
    s = SCALES[case["scale"]]
    rng = np.random.default_rng(case["seed"])
    L = len(sizes) - 1
    rnd = lambda a: a.astype(dtype).astype(np.float64)  # noqa: E731  (values exactly as the SUT sees them)

    def draw_params():
        params = {}
        for l in range(1, L + 1):
            params[f"W{l}"] = rnd(rng.normal(size=(sizes[l - 1], sizes[l])) * s / np.sqrt(sizes[l - 1]))
            params[f"b{l}"] = rnd(rng.normal(size=(1, sizes[l])) * s / 2)
        return params

    params = draw_params()
    X = rnd(rng.normal(size=(m, sizes[0])) * s)
    Y = rnd(_targets(rng, case["loss"], m, sizes[-1]))
    rows_case = {**case, "layout": "rows"}
    for attempt in range(MAX_REDRAWS):
        b = tolerance.bounds(rows_case, params, X, Y, backward=False)  # the forward half decides a redraw
        if output_capped(case):
            peak = np.abs(b.Z[L]).max()
            if peak > OUTPUT_CAP[case["dtype"]]:
                shrink = 0.99 * OUTPUT_CAP[case["dtype"]] / peak  # 0.99: rounding cannot undo it
                params[f"W{L}"], params[f"b{L}"] = rnd(params[f"W{L}"] * shrink), rnd(params[f"b{L}"] * shrink)
                continue
        clear = tolerance.kink_clearance(rows_case, b, Y)
        if clear.all():
            break
        redo = np.flatnonzero(~clear)
        X[redo] = rnd(rng.normal(size=(len(redo), sizes[0])) * s)
        if attempt % REDRAW_PARAMS_EVERY == REDRAW_PARAMS_EVERY - 1:
            # new inputs cannot move a kink that does not depend on them (a constant layer before it)
            params = draw_params()
    else:
        raise IllPosedCase(f"no well-posed draw after {MAX_REDRAWS} tries: {case}")
    S = tolerance.backpropagate(rows_case, params, b, Y).S  # the arrays are exact in the dtype: these are final
    arrays = contract.from_rows(case, {**params, "X": X, "Y": Y})
    arrays = {k: np.ascontiguousarray(v.astype(dtype)) for k, v in arrays.items()}
    X, Y = arrays.pop("X"), arrays.pop("Y")
    return Problem(case, arrays, X, Y, S)

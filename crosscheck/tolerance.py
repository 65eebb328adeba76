"""The tolerance rule: one first-order rounding-error model, the only source of allowed error.

The rule
--------
For every entry x of every compared tensor (and for the loss J),

    allowed(x) = (u_a + u_b) * S(x) + (eta_a + eta_b) * F(x)

where u_a and u_b are the unit roundoffs of the two computations being compared (2^-53 for
float64, 2^-24 for float32), S(x) is a first-order bound on how much one rounding of every
operation can move x, in units of u, and F(x) the same for underflow: each operation may also
err by eta, the smallest normal number of its dtype, near zero (Higham's fl(x op y) =
(x op y)(1 + delta) + eta), and F counts those operations, propagated by the same gains.
S and F are computed here, in float64, by propagating magnitudes through the network alongside
the forward and backward pass, with the standard bounds:

* an inner product of n terms errs by at most n u Σ|terms|  (Higham, gamma_n to first order);
* an elementwise formula (an activation, a derivative, a loss term) errs by at most
  C_F u (sum of the magnitudes of its textbook terms), C_F = 8 roundings;
* an error δ in an input moves a smooth function's output by |f'| δ, and its derivative by |f''| δ.

Forward:  E_Z = (n_{l-1} + 1)(|A_{l-1}||W_l| + |b_l|) + E_A |W_l|,
          E_A = C_F terms(g) + |g'| E_Z                (softmax: its |Jacobian| applied to E_Z)
Loss:     E_dA_L = r ((C_F + 1) terms(loss') + |loss''| (E_A + C_F |A_L|)) + eta,   r = 1/m or 1
Backward: E_dZ = E_dA |g'| + |dA| (|g''| E_Z + C_F terms(g')) + C_F |dZ|
          (softmax: its |Jacobian|, and (2n + C_F) eta for its own products)
          E_dW = m |A|ᵀ|dZ| + E_Aᵀ|dZ| + |A|ᵀ E_dZ,   E_db = m Σ|dZ| + Σ E_dZ,
          E_dA_{l-1} = n_l |dZ||W|ᵀ + E_dZ |W|ᵀ
where |dA|, |dZ| are themselves propagated as magnitudes (sums of absolute terms), so that
cancellation never shrinks the bound. The bound covers any correct order of summation and every
textbook form of each formula (fused shortcuts or the general chain; the catalogue in
examples/forms/catalogue.py, each form tested against these bounds in tests/test_forms.py), because
it charges the magnitudes of the terms, not of the result. It scales with depth and width through the n's and
through the propagated E's: nothing in it is fitted to test outcomes.

A sampled case (``crosscheck.sampling``) compares probes: its entries get the same allowance, and
a probe along a direction gets the sum of its entries' allowances plus two float64 roundings the
per-entry bounds do not hold (``probes_allowed``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from crosscheck import activations, losses
from crosscheck.windows import scatter, windows

UNIT_ROUNDOFF = {"float64": 2.0**-53, "float32": 2.0**-24}
UNDERFLOW = {"float64": float(np.finfo(np.float64).tiny), "float32": float(np.finfo(np.float32).tiny)}
"""eta: the absolute error one operation can make near zero (the smallest normal number, so that
flush-to-zero arithmetic, as XLA uses on CPU, is covered as well as gradual underflow)."""
C_F = 8
"""Roundings charged to one elementwise formula: a libm call (within a few ulp) and its arithmetic."""


@dataclass
class Bounds:
    """First-order error bounds, rows layout, one array per contract tensor.

    Each S[key] has a leading axis of 2: S[key][0] in units of u (rounding), S[key][1] in units of
    eta (underflow). Keys: dW{l}, db{l}, dZ{l}, dA0 and 'loss'.
    """

    S: dict[str, np.ndarray]
    E_Z: list[np.ndarray]
    """(rounding, underflow) bound of each Z_l (index l; E_Z[0] is unused)."""
    E_A: list[np.ndarray]
    Z: list[np.ndarray]
    A: list[np.ndarray]


def unit_roundoff(dtype: str) -> float:
    return UNIT_ROUNDOFF[str(dtype)]


def allowed(S: np.ndarray, dtype_a: str, dtype_b: str, gain_a: float = 1.0, gain_b: float = 1.0) -> np.ndarray:
    """The allowed |a - b| per entry when computation a (in dtype_a) meets computation b.

    ``gain_a`` and ``gain_b`` scale each side's underflow term: a complex-step derivative is
    Im(f) / h, so an underflow in Im(f) costs eta / h (``oracles.Oracle.underflow_gain``).
    """
    rounding = unit_roundoff(dtype_a) + unit_roundoff(dtype_b)
    underflow = UNDERFLOW[str(dtype_a)] * gain_a + UNDERFLOW[str(dtype_b)] * gain_b
    return rounding * S[0] + underflow * S[1]


def probe_sums(case: dict, m: int) -> int:
    """K for ``probes_allowed``: the terms of the sums a direction's complex step goes through.

    Forming the direction on Z_l (n_{l-1} terms), each later layer's product (n_l terms) and at
    most one more sum over that layer's units (a softmax's normaliser, a loss over the outputs),
    then the m examples: at most 2 sum(sizes) + m, plus 2 for the last additions.
    """
    return 2 * sum(case["sizes"]) + m + 2


def probes_allowed(probes, S: np.ndarray, full: np.ndarray, dtype_a: str, dtype_b: str, fan_in: int,
                   gain_a: float = 1.0, gain_b: float = 1.0) -> np.ndarray:
    """The allowed difference of each probe (``crosscheck.sampling.Probes``) of one tensor.

    A probed entry is allowed what ``allowed`` gives it. A direction v probes <v, dT>:

    * one side has the full tensor (``full``) and takes the dot product: its error is at most
      sum |v_i| times its per-entry bound (linearity), plus the dot product's own rounding over
      all N entries, gamma_N sum |v_i| |full_i|;
    * the other side is one complex-step derivative along v, a forward-mode tangent: to first
      order each of its roundings is u times the magnitude of its terms, and those terms are linear
      in the direction, so it errs by at most sum |v_i| times the per-entry bound of a unit
      direction, except in the sums, where a dense direction has up to n nonzero terms where a
      unit one has one. Those sums (``probe_sums``: K terms in all) cost at most
      gamma_K sum |v_i| S_i, since S bounds the magnitude of every term of entry i
      (``bounds``: S_dW >= m |A|^T |dZ|, S_dZ >= |dZ|, and likewise).

    So allowed(<v, dT>) = sum |v_i| allowed_i + gamma_N sum |v_i| |full_i| + gamma_K sum |v_i| S_i.
    The last term is the largest in practice (K is a few hundred, and S_i is counted in units of
    float64's u where allowed_i is in the case's), so a direction allows about K/2 times what its
    entries' allowances add up to: it finds errors spread over many entries, and the probed
    entries find the ones concentrated in a few.
    """
    per_entry = allowed(S, dtype_a, dtype_b, gain_a, gain_b).reshape(-1)
    v = np.abs(probes.direction).reshape(-1)
    u = UNIT_ROUNDOFF["float64"]
    gamma = lambda n: n * u / (1 - n * u)  # noqa: E731
    direction = (v @ per_entry + gamma(v.size) * (v @ np.abs(np.asarray(full, np.float64)).reshape(-1))
                 + gamma(fan_in) * (v @ S[0].reshape(-1)))
    return np.append(per_entry[probes.entries], direction)


def sgd_update_bounds(W: np.ndarray, dW: np.ndarray, lr: float) -> np.ndarray:
    """(rounding, underflow) bounds of one gradient step W - lr dW: a product, then a difference."""
    W, dW = np.asarray(W, np.float64), np.asarray(dW, np.float64)
    return _sources(np.abs(W) + 2 * lr * np.abs(dW), 2)


def _sources(rounding: np.ndarray, ops) -> np.ndarray:
    """Stack a rounding source (units of u) with its underflow source (units of eta, ``ops`` operations)."""
    rounding = np.asarray(rounding)
    out = np.empty((2,) + rounding.shape, np.result_type(rounding, np.float64))  # np.stack's, without its cost
    out[0], out[1] = rounding, ops
    return out


def grow(M: np.ndarray, E: np.ndarray, dtype: str) -> np.ndarray:
    """The largest magnitude a computation in ``dtype`` can give a value of magnitude M and error bound E."""
    return M + unit_roundoff(dtype) * E[0] + UNDERFLOW[str(dtype)] * E[1]


def _rows(x):
    return x.sum(-1, keepdims=True)  # over the units of each example


def activation_forward(act: activations.Activation, Z: np.ndarray, E_Z: np.ndarray, dtype: str) -> np.ndarray:
    """E_A: the error bound of A = g(Z), for Z (rows layout) computed with error bound E_Z."""
    if act.elementwise:
        slope = act.d1(Z) + act.d2(Z) * grow(0, E_Z, dtype)  # |g'| anywhere the computed Z can be
        return _sources(C_F * act.v_terms(Z), C_F) + slope * E_Z
    # softmax, shifted by the max, or not, or as exp(z - logsumexp z)
    A = act.value(Z)
    Ez = E_Z + _sources(C_F * (np.abs(Z) + np.abs(Z).max(-1, keepdims=True)), C_F)
    return _sources(C_F * A, C_F) + A * (Ez + _rows(A * Ez))


def loss_backward(loss: losses.Loss, a: np.ndarray, y: np.ndarray, E_A: np.ndarray, r: float):
    """(S of J, |dA_L|, E_dA_L) for J = r sum_i loss(a_i, y_i), a = A_L computed with error bound E_A."""
    m = a.shape[0]
    E_a = E_A + _sources(C_F * np.abs(a), C_F)
    terms = loss.grad_terms(a, y)
    S_loss = r * (_sources((C_F + m) * loss.value_terms(a, y).sum(), (C_F + 2) * m * a.shape[1])
                  + (terms * E_a).sum((-1, -2)))
    # r * loss'(a) is one more product: one more rounding, and a flush to zero of its own that
    # r does not scale (an underflow is eta whatever the size of the factors)
    E_dA = r * (_sources((C_F + 1) * terms, C_F) + loss.hess_abs(a, y, E_a)) + _sources(np.zeros_like(terms), 1)
    return S_loss, r * terms, E_dA


def derivative_error(act: activations.Activation, Z: np.ndarray, E_Z: np.ndarray) -> np.ndarray:
    """The error bound of g'(Z), elementwise, for Z computed with error bound E_Z: its own rounding
    (``d1_terms``, which covers every textbook form, from Z or from A = g(Z)) and Z's error moved by |g''|."""
    return _sources(C_F * act.d1_terms(Z), C_F) + act.d2(Z) * E_Z


def activation_backward(act: activations.Activation, Z: np.ndarray, E_Z: np.ndarray, E_A: np.ndarray,
                        M_dA: np.ndarray, E_dA: np.ndarray, dtype: str):
    """(|dZ|, E_dZ) for dZ = dA g'(Z) (softmax: A (dA - <A, dA>)), dA of magnitude M_dA and error E_dA."""
    dA = grow(M_dA, E_dA, dtype)
    if act.elementwise:
        d1, d2 = act.d1(Z), act.d2(Z)
        g1 = d1 + grow(0, derivative_error(act, Z, E_Z), dtype)
        E_dZ = E_dA * g1 + dA * d2 * E_Z + _sources(C_F * (dA * act.d1_terms(Z) + dA * g1), 2 * C_F)
        return M_dA * d1, E_dZ
    # softmax: dZ = A (dA - <A, dA>)
    A = act.value(Z)
    n = Z.shape[-1]
    Al = grow(A, E_A, dtype)
    s = _rows(Al * dA)
    E_dZ = ((E_A + _sources(C_F * Al, C_F)) * (dA + s)
            + Al * (E_dA + _rows(E_A * dA) + _rows(Al * E_dA) + _sources(n * s, 2 * n))
            # dZ's own operations may flush to zero with nothing to scale the loss: the product
            # a (da - s), or, with the explicit Jacobian, the n products (a_k a_j) da_j and their sum
            + _sources(np.zeros_like(s), 2 * n + C_F))
    return A * (M_dA + _rows(A * M_dA)), E_dZ


def layer_backward(A_prev: np.ndarray, E_A_prev: np.ndarray, M_dZ: np.ndarray, E_dZ: np.ndarray, W: np.ndarray,
                   dtype: str):
    """(S_dW, S_db, |dA_prev|, E_dA_prev) for dW = A_prevᵀ dZ, db = Σ_examples dZ, dA_prev = dZ Wᵀ (rows)."""
    m, n = M_dZ.shape[-2], M_dZ.shape[-1]
    dZ = grow(M_dZ, E_dZ, dtype)
    A_prev_ = grow(np.abs(A_prev), E_A_prev, dtype)
    S_dW = _sources(m * (A_prev_.T @ dZ), 2 * m) + np.swapaxes(E_A_prev, -1, -2) @ dZ + A_prev_.T @ E_dZ
    S_db = _sources(m * dZ.sum(0, keepdims=True), 2 * m) + E_dZ.sum(-2, keepdims=True)
    E_dA = _sources(n * (dZ @ np.abs(W).T), 2 * n) + E_dZ @ np.abs(W).T
    return S_dW, S_db, M_dZ @ np.abs(W).T, E_dA


def bounds(case: dict, params: dict, X: np.ndarray, Y: np.ndarray, backward: bool = True) -> Bounds:
    """Propagate magnitudes and error bounds (float64, rows layout) for one case.

    Magnitudes (M_*) are plain arrays; error bounds (E_*) carry the leading (rounding, underflow)
    axis and are propagated by the same linear maps. Where an error is multiplied by a computed
    value, the bound uses that value's magnitude as a computation in the case's dtype may produce
    it, |x| + allowed(E_x) (``grow``): when a tiny factor such as a saturated tanh' = 1e-30 is
    computed as 1e-15, that, not 1e-30, is what multiplies the error arriving from above. Each stage
    is one function (``activation_forward``, ``loss_backward``, ``activation_backward``,
    ``layer_backward``), so that a single formula's bound can be tested on its own. With ``backward``
    False, S is left empty (what ``kink_clearance`` needs is the forward half): ``backpropagate``
    completes it.
    """
    L = len(case["activations"])
    names = case["activations"]
    dtype = case["dtype"]
    W = {l: np.asarray(params[f"W{l}"], np.float64) for l in range(1, L + 1)}
    b = {l: np.asarray(params[f"b{l}"], np.float64) for l in range(1, L + 1)}
    A, E_A = [np.asarray(X, np.float64)], [np.zeros((2,) + X.shape)]
    Z, E_Z = [None], [None]
    with np.errstate(all="ignore"):
        for l in range(1, L + 1):
            n_in = W[l].shape[0] + 1
            A_prev = grow(np.abs(A[-1]), E_A[-1], dtype)
            Z.append(A[-1] @ W[l] + b[l])
            E_Z.append(_sources(n_in * (A_prev @ np.abs(W[l]) + np.abs(b[l])), 2 * n_in) + E_A[-1] @ np.abs(W[l]))
            act = activations.get(names[l - 1])
            A.append(act.value(Z[l]))
            E_A.append(activation_forward(act, Z[l], E_Z[l], dtype))
    forward = Bounds(S={}, E_Z=E_Z, E_A=E_A, Z=Z, A=A)
    return backpropagate(case, params, forward, Y) if backward else forward


def backpropagate(case: dict, params: dict, forward: Bounds, Y: np.ndarray) -> Bounds:
    """``forward`` (``bounds(..., backward=False)`` of the same case and arrays) with S: the loss's bound,
    then every gradient's in backward order."""
    L, m = len(case["activations"]), forward.A[0].shape[0]
    names, dtype = case["activations"], case["dtype"]
    A, E_A, Z, E_Z = forward.A, forward.E_A, forward.Z, forward.E_Z
    W = {l: np.asarray(params[f"W{l}"], np.float64) for l in range(1, L + 1)}
    with np.errstate(all="ignore"):
        r = 1.0 / m if case["reduction"] == "mean" else 1.0
        S_loss, M_dA, E_dA = loss_backward(losses.get(case["loss"]), A[L], np.asarray(Y, np.float64), E_A[L], r)
        S = {"loss": S_loss}
        for l in range(L, 0, -1):
            M_dZ, E_dZ = activation_backward(activations.get(names[l - 1]), Z[l], E_Z[l], E_A[l], M_dA, E_dA, dtype)
            S[f"dZ{l}"] = E_dZ
            S[f"dW{l}"], S[f"db{l}"], M_dA, E_dA = layer_backward(A[l - 1], E_A[l - 1], M_dZ, E_dZ, W[l], dtype)
        S["dA0"] = E_dA
    return Bounds(S=S, E_Z=E_Z, E_A=E_A, Z=Z, A=A)


def margins_clear(a: np.ndarray, E_a: np.ndarray, onehot: np.ndarray, dtype: str) -> np.ndarray:
    """Boolean (m,): every hinge margin a_k - a_c + 1 of an example is farther from 0 than its error,
    for a computed with error bound E_a (the target class's own margin is never a decision)."""
    E = E_a + _sources(C_F * (np.abs(a) + 1), C_F)
    margin = losses.hinge_margins(a, onehot)
    E_margin = E + (E * onehot).sum(-1, keepdims=True)
    return ((np.abs(margin) > allowed(E_margin, dtype, "float64")) | (onehot == 1)).all(-1)


def kink_clearance(case: dict, bounds_: Bounds, Y: np.ndarray) -> np.ndarray:
    """Boolean (m,): True for examples whose every kink decision is unambiguous in the case's dtype.

    A relu or leaky_relu pre-activation, or a hinge margin, decides a branch. Two correct
    computations (the SUT in its dtype, an oracle in float64) take the same branch when the exact
    value lies farther from the kink than both of their errors can move it: |x| > allowed(E_x).
    """
    dtype = case["dtype"]
    ok = np.ones(bounds_.Z[1].shape[0], dtype=bool)
    for l, name in enumerate(case["activations"], start=1):
        if activations.get(name).kink is not None:
            ok &= (np.abs(bounds_.Z[l]) > allowed(bounds_.E_Z[l], dtype, "float64")).all(1)
    if losses.get(case["loss"]).kink:
        onehot = losses.target_onehot(np.asarray(Y, np.float64))
        ok &= margins_clear(bounds_.A[-1], bounds_.E_A[-1], onehot, dtype)
    return ok


# ---------------------------------------------------------------------------------------------
# layer ops (crosscheck/ops.py): one rule per op, composed from the stage rules above. An op's
# inputs and its upstream gradient dout are exact (drawn in the case's dtype), so every E of an
# input is zero; each rule returns {output name: S} with S's leading (rounding, underflow) axis.


def _exact(x: np.ndarray) -> np.ndarray:
    return np.zeros((2,) + np.shape(x))


TANGENT = 2
"""Roundings a forward-mode tangent adds to each term of an op's gradient: the complex step's seed
h times the factor it meets (h w, h x, h), and the division by h at the end. In a network these
hide under the C_F of every dZ; an op's exact dout leaves an inner product's gamma_n bare."""


def _tangent(M: np.ndarray) -> np.ndarray:
    return _sources(TANGENT * M, TANGENT)


def affine_rule(x: np.ndarray, w: np.ndarray, b: np.ndarray, dout: np.ndarray, dtype: str) -> dict:
    """out = x w + b, an inner product of D + 1 terms: (D + 1)(|x||w| + |b|);
    dx = dout wᵀ: (M + 2) |dout||w|ᵀ;  dw = xᵀ dout: (N + 2) |x|ᵀ|dout|;  db = Σ_N dout: (N + 2) Σ|dout|
    (an inner product's n, and ``TANGENT`` for a complex step's own roundings).

    x may be (N, d1, ..., dk): it is read as (N, D), and dx has x's shape."""
    x2 = x.reshape(x.shape[0], -1)
    n_in = x2.shape[1] + 1
    out = _sources(n_in * (np.abs(x2) @ np.abs(w) + np.abs(b)), 2 * n_in)
    dw, db, _, dx = layer_backward(x2, _exact(x2), np.abs(dout), _exact(dout), w, dtype)
    dout_ = np.abs(dout)
    dx, dw = dx + _tangent(dout_ @ np.abs(w).T), dw + _tangent(np.abs(x2).T @ dout_)
    db = db + _tangent(dout_.sum(0, keepdims=True))
    return {"out": out, "dx": dx.reshape((2,) + x.shape), "dw": dw, "db": db.reshape(2, -1)}


def linear_rule(A_prev: np.ndarray, W: np.ndarray, b: np.ndarray, dZ: np.ndarray, dtype: str) -> dict:
    """The course's columns layout, Z = W A_prev + b: affine's rule transposed, with dW and db
    scaled by 1/m (one more product: r S + |r dW|, one more rounding and flush)."""
    m = A_prev.shape[1]
    rows = affine_rule(A_prev.T, W.T, b.reshape(-1), dZ.T, dtype)
    r = 1.0 / m
    dW = r * np.swapaxes(rows["dw"], -1, -2) + _sources(r * (np.abs(dZ) @ np.abs(A_prev).T), 1)
    db = r * rows["db"].reshape(2, -1, 1) + _sources(r * np.abs(dZ).sum(1, keepdims=True), 1)
    return {"Z": np.swapaxes(rows["out"], -1, -2), "dA_prev": np.swapaxes(rows["dx"], -1, -2), "dW": dW, "db": db}


def linear_activation_rule(act: activations.Activation, A_prev: np.ndarray, W: np.ndarray, b: np.ndarray,
                           dA: np.ndarray, dtype: str) -> dict:
    """The course's linear_activation_forward/backward (columns): Z = W A_prev + b with linear's E_Z,
    A = g(Z) by activation_forward, dZ = dA g'(Z) by activation_backward (dA exact), then
    layer_backward carries E_dZ into dA_prev, dW and db, and dW, db are scaled by 1/m."""
    x, w, m = A_prev.T, W.T, A_prev.shape[1]
    Z = x @ w + b.reshape(-1)
    n_in = x.shape[1] + 1
    E_Z = _sources(n_in * (np.abs(x) @ np.abs(w) + np.abs(b.reshape(-1))), 2 * n_in)
    E_A = activation_forward(act, Z, E_Z, dtype)
    M_dZ, E_dZ = activation_backward(act, Z, E_Z, E_A, np.abs(dA.T), _exact(dA.T), dtype)
    dw, db, _, dx = layer_backward(x, _exact(x), M_dZ, E_dZ, w, dtype)
    r = 1.0 / m
    dZ = grow(M_dZ, E_dZ, dtype)
    dx, dw = dx + _tangent(dZ @ np.abs(w).T), dw + _tangent(np.abs(x).T @ dZ)
    db = db + _tangent(dZ.sum(0, keepdims=True))
    T = lambda S: np.swapaxes(S, -1, -2)  # noqa: E731  (rows back to the course's columns)
    return {"A": T(E_A), "dA_prev": T(dx),
            "dW": r * T(dw) + _sources(r * (dZ.T @ np.abs(x)), 1),
            "db": r * T(db) + _sources(r * dZ.sum(0)[:, None], 1)}


def elementwise_rule(act: activations.Activation, x: np.ndarray, dout: np.ndarray, dtype: str) -> dict:
    """out = g(x): activation_forward with exact x; dx = dout g'(x): activation_backward with an exact dout
    (E_dA = 0). The keys are 'out' and 'dx'."""
    E_A = activation_forward(act, x, _exact(x), dtype)
    _, E_dx = activation_backward(act, x, _exact(x), E_A, np.abs(dout), _exact(dout), dtype)
    return {"out": E_A, "dx": E_dx}


def loss_rule(loss: losses.Loss, x: np.ndarray, y: np.ndarray) -> dict:
    """loss = (1/N) Σ_i loss(x_i, y_i) and dx: loss_backward on exact scores with r = 1/N
    (softmax_loss: softmax_cross_entropy's terms; svm_loss: the hinge's)."""
    onehot = np.eye(x.shape[1])[np.asarray(y, int)]
    S_loss, _, E_dx = loss_backward(loss, x, onehot, _exact(x), 1.0 / x.shape[0])
    return {"loss": S_loss, "dx": E_dx}


def _terms(M: np.ndarray, k) -> np.ndarray:
    """k roundings (and k flushes to zero) of a computation whose terms have magnitude M."""
    return _sources(k * M, k)


def normalization_rule(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, dout: np.ndarray, eps: float,
                       axis: int, dtype: str) -> dict:
    """Batchnorm (statistics over axis 0, the N examples) and layernorm (over axis 1, the D features):
    out = γ x̂ + β, x̂ = (x - μ) / sqrt(σ² + eps), μ and σ² the mean and the (biased) variance over
    ``axis`` of n terms; γ and β are per feature. Every step is charged the magnitudes of its terms,
    with M = |x| + |μ| for x - μ (never |x - μ|, so cancellation never shrinks the bound; this also
    covers σ² = mean(x²) - μ², and forms that fold μ into a shift β - μ γ / σ):

      E_μ = (n + 1) mean|x|                                   (a sum of n terms, a division)
      E_xc = E_μ + M                                          (the subtraction)
      E_σ² = (n + 2) mean(M²) + 2 mean(M E_xc)                (squares, their sum, a division)
      E_v = E_σ² + 2 v,  v = σ² + eps                         (eps rounded to the dtype, the addition)
      E_inv = E_v inv³ / 2 + C_F inv,  inv = 1/sqrt(v)         (1/sqrt or ** -0.5: a libm call and a division)
      E_x̂ = E_xc inv + M E_inv + M inv
      E_out = |γ| E_x̂ + C_F (|γ| M inv + |β|)

    Backward, with G = |γ dout| and X = M inv (the magnitude x̂'s terms can have), dx is
    inv (dx̂ - mean dx̂ - x̂ mean(dx̂ x̂)) in the simplified formula, and the computational graph
    (through dσ² and dμ) adds dσ² mean(x - μ), zero in exact arithmetic but not in rounding. Its four
    terms, A = G inv, B = inv mean G, C = inv X mean(G X), D = inv mean(G X) mean X, are each charged
    n + C_F + ``TANGENT`` roundings (the means; the complex step's inner product <dout, out> over the
    n outputs an entry moves), E_inv for their outer inv, and E_x̂ for each of their x̂ factors:

      E_dx = (n + C_F + TANGENT)(A + B + C + D) + E_inv (G + mean G + X mean(G X) + mean(G X) mean X)
             + inv (E_x̂ mean(G X) + X mean(G E_x̂) + mean(G E_x̂) mean X + mean(G X) mean E_x̂)

    The 3/2 power of v in dσ² is covered: C carries one E_inv for its outer inv and one in each
    x̂ factor's E_x̂. dγ = Σ_N dout x̂ and dβ = Σ_N dout are sums over the N examples:
    E_dγ = (N + C_F + TANGENT) Σ_N |dout| X + Σ_N |dout| E_x̂,  E_dβ = (N + TANGENT) Σ_N |dout|.
    """
    out, dx, X, E_xhat = _normalization_terms(x, gamma, beta, dout, eps, axis)
    dd = np.abs(dout)
    dgamma = _terms((dd * X).sum(0), x.shape[0] + C_F + TANGENT) + (dd * E_xhat).sum(-2)
    dbeta = _terms(dd.sum(0), x.shape[0] + TANGENT)
    return {"out": out, "dx": dx, "dgamma": dgamma, "dbeta": dbeta}


def _normalization_terms(x, gamma, beta, dout, eps, axis):
    """(E_out, E_dx, X, E_x̂) of ``normalization_rule``; γ and β may be given per entry of x."""
    def avg(a):
        return a.mean(axis + a.ndim - 2, keepdims=True)  # over the statistics' axis (an E has its leading 2)

    n = x.shape[axis]
    ax = np.abs(x)
    mu = x.mean(axis, keepdims=True)
    M = ax + np.abs(mu)
    var = ((x - mu) ** 2).mean(axis, keepdims=True)
    v = var + eps
    inv = 1 / np.sqrt(v)
    E_mu = _terms(avg(ax), n + 1)
    E_xc = E_mu + _terms(M, 1)
    E_var = _terms(avg(M * M), n + 2) + 2 * avg(M * E_xc)
    E_v = E_var + _terms(v, 2)
    E_inv = E_v * inv**3 / 2 + _terms(inv, C_F)
    X = M * inv
    E_xhat = E_xc * inv + M * E_inv + _terms(X, 1)
    g, b = np.abs(gamma), np.abs(beta)
    out = g * E_xhat + _terms(g * X + b, C_F)

    G = np.abs(gamma * dout)
    GX = avg(G * X)
    A, B, C, D = G * inv, inv * avg(G), inv * X * GX, inv * GX * avg(X)
    GE = avg(G * E_xhat)
    dx = (_terms(A + B + C + D, n + C_F + TANGENT) + E_inv * (G + avg(G) + X * GX + GX * avg(X))
          + inv * (E_xhat * GX + X * GE + GE * avg(X) + GX * avg(E_xhat)))
    return out, dx, X, E_xhat


def spatial_batchnorm_rule(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, dout: np.ndarray, eps: float,
                           dtype: str) -> dict:
    """Spatial batchnorm, x (N, C, H, W) normalized per channel over its N·H·W entries: batchnorm's
    ``normalization_rule`` on x read as (N·H·W, C) rows, so n = N·H·W in the statistics and in the
    sums of dγ and dβ."""
    N, C, H, W = x.shape
    rows = lambda a: a.transpose(0, 2, 3, 1).reshape(-1, C)  # noqa: E731
    back = lambda S: S.reshape(2, N, H, W, C).transpose(0, 1, 4, 2, 3)  # noqa: E731
    r = normalization_rule(rows(x), gamma, beta, rows(dout), eps, 0, dtype)
    return {"out": back(r["out"]), "dx": back(r["dx"]), "dgamma": r["dgamma"], "dbeta": r["dbeta"]}


def spatial_groupnorm_rule(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, dout: np.ndarray, G: int,
                           eps: float, dtype: str) -> dict:
    """Spatial groupnorm, x (N, C, H, W) normalized over each example's groups of C/G channels, n =
    (C/G)·H·W entries a group, with γ and β (1, C, 1, 1) per channel: ``normalization_rule``'s out and
    dx terms on x read as (N·G, C/G·H·W) rows (statistics along axis 1, γ and β given per entry), and
    dγ, dβ as sums over the N·H·W entries of a channel:
    E_dγ = (N H W + C_F + TANGENT) Σ |dout| X + Σ |dout| E_x̂,  E_dβ = (N H W + TANGENT) Σ |dout|."""
    N, C, H, W = x.shape
    rows = lambda a: np.broadcast_to(a, x.shape).reshape(N * G, -1)  # noqa: E731
    back = lambda S: S.reshape((-1, N, C, H, W))  # noqa: E731
    out, dx, X, E_xhat = _normalization_terms(rows(x), rows(gamma), rows(beta), rows(dout), eps, 1)
    X, E_xhat = X.reshape(x.shape), back(E_xhat)
    dd = np.abs(dout)
    dgamma = _terms((dd * X).sum((0, 2, 3)), N * H * W + C_F + TANGENT) + (dd * E_xhat).sum((1, 3, 4))
    dbeta = _terms(dd.sum((0, 2, 3)), N * H * W + TANGENT)
    per_channel = lambda S: S.reshape(2, 1, C, 1, 1)  # noqa: E731
    return {"out": back(out), "dx": back(dx), "dgamma": per_channel(dgamma), "dbeta": per_channel(dbeta)}


def conv_rule(x: np.ndarray, w: np.ndarray, b: np.ndarray, dout: np.ndarray, stride: int, pad: int,
              dtype: str) -> dict:
    """out[n, f, i, j] = Σ_{c, kh, kw} x_pad[n, c, i s + kh, j s + kw] w[f, c, kh, kw] + b[f]: affine's
    inner product over a window, K + 1 = C·HH·WW + 1 terms: (K + 1)(|window|·|w_f| + |b_f|).
    Backward, each a sum charged its number of terms and ``TANGENT``:
    dx: at most F·HH·WW terms dout·w an entry (one per filter and kernel offset), on the windows'
    transpose (``windows.scatter``): (F HH WW + TANGENT) scatter(|dout| |w|);
    dw = Σ_{n, i, j} dout·window: (N Ho Wo + TANGENT) Σ |dout| |window|;  db = Σ_{n, i, j} dout:
    (N Ho Wo + TANGENT) Σ |dout|. Each term may also flush to zero: twice the terms in units of eta."""
    F, C, HH, WW = w.shape
    K = C * HH * WW
    cols = windows(np.abs(x), HH, WW, stride, pad)  # (N, C, Ho, Wo, HH, WW)
    N, _, Ho, Wo = cols.shape[:4]
    cols = cols.transpose(0, 2, 3, 1, 4, 5).reshape(N, Ho, Wo, K)
    wm = np.abs(w).reshape(F, K)
    out = _sources((K + 1) * (cols @ wm.T + np.abs(b)), 2 * (K + 1)).transpose(0, 1, 4, 2, 3)
    do = np.abs(dout).transpose(0, 2, 3, 1)  # (N, Ho, Wo, F)
    per_window = (do @ wm).reshape(N, Ho, Wo, C, HH, WW).transpose(0, 3, 1, 2, 4, 5)
    n_dx, P = F * HH * WW, N * Ho * Wo
    dx = _sources((n_dx + TANGENT) * scatter(per_window, x.shape, stride, pad), 2 * n_dx + TANGENT)
    dw = _sources((P + TANGENT) * (do.reshape(P, F).T @ cols.reshape(P, K)).reshape(w.shape), 2 * P + TANGENT)
    db = _sources((P + TANGENT) * do.sum((0, 1, 2)), 2 * P + TANGENT)
    return {"out": out, "dx": dx, "dw": dw, "db": db}


def pool_selection(x: np.ndarray, PH: int, PW: int, stride: int) -> np.ndarray:
    """(N, C, Ho, Wo, PH·PW) one-hot: where each window's max is (x exact; ties kept out by ``pool_clear``)."""
    win = windows(np.real(x), PH, PW, stride)
    flat = win.reshape(win.shape[:4] + (-1,))
    return np.arange(flat.shape[-1]) == flat.argmax(-1)[..., None]


def pool_clear(x: np.ndarray, PH: int, PW: int, stride: int, dtype: str) -> np.ndarray:
    """Boolean (N,): every window's max of the example is farther from its runner-up than their errors
    can move them. x is exact (drawn in the case's dtype), so that bound is zero: only a tie is ambiguous."""
    win = windows(x, PH, PW, stride)
    flat = np.sort(win.reshape(win.shape[:4] + (-1,)), -1)
    if flat.shape[-1] == 1:
        return np.ones(x.shape[0], bool)
    gap = flat[..., -1] - flat[..., -2]
    return (gap > allowed(_exact(gap), dtype, "float64")).reshape(x.shape[0], -1).all(1)


def maxpool_rule(x: np.ndarray, dout: np.ndarray, PH: int, PW: int, stride: int) -> dict:
    """out = max over each window: a selection, exact (S = 0). dx routes each window's dout to its max:
    an entry that is the max of k overlapping windows is a sum of k douts, each dout times one, so
    (k + TANGENT) Σ |dout| routed there (k = 0 or 1 without overlap: exact in the SUT, the complex
    step's own roundings only)."""
    pick = pool_selection(x, PH, PW, stride)
    shape = pick.shape[:4] + (PH, PW)
    routed = scatter((np.abs(dout)[..., None] * pick).reshape(shape), x.shape, stride)
    k = scatter(pick.reshape(shape).astype(np.float64), x.shape, stride)
    return {"out": _exact(dout), "dx": _terms(routed, k + TANGENT)}


DROPOUT_ROUNDINGS = 2
"""Inverted dropout's roundings per entry: the mask's 1/p in the dtype, and its product with x (or dout)."""


def dropout_rule(x: np.ndarray, dout: np.ndarray, mask: np.ndarray) -> dict:
    """out = x mask and dx = dout mask, mask = 1/p or 0 (the same mask on every side: the case fixes
    its seed): DROPOUT_ROUNDINGS each, and TANGENT more for dx's complex step."""
    m = np.abs(mask)
    return {"out": _terms(np.abs(x) * m, DROPOUT_ROUNDINGS),
            "dx": _terms(np.abs(dout) * m, DROPOUT_ROUNDINGS + TANGENT)}


def published_rounding(figure: str) -> float:
    """Half a unit in the last digit of a printed figure: '0.298371109' -> 5e-10.

    A published number is exact only to the digits shown; this is the whole of its uncertainty.
    """
    mantissa = figure.strip().lower().split("e")[0]
    decimals = len(mantissa.split(".")[1]) if "." in mantissa else 0
    exponent = int(figure.lower().split("e")[1]) if "e" in figure.lower() else 0
    return 0.5 * 10.0 ** (exponent - decimals)


FD_ACCURACY = 1e-9
"""What the finite-difference oracle promises on smooth float64 cases: beyond float64 rounding
(``allowed``), its error is at most this fraction of the tensor's largest entry (a target the
oracle is tested against, not an allowance for any SUT)."""

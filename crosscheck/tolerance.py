"""The tolerance rule: one first-order rounding-error model, the only source of allowed error.

The rule
--------
For every entry x of every compared tensor (and for the loss J),

    allowed(x) = (u_a + u_b) * S(x)

where u_a and u_b are the unit roundoffs of the two computations being compared (2^-53 for
float64, 2^-24 for float32) and S(x) is a first-order bound on how much one rounding of every
operation can move x, in units of u. S is computed here, in float64, by propagating magnitudes
through the network alongside the forward and backward pass, with the standard bounds:

* an inner product of n terms errs by at most n u Σ|terms|  (Higham, gamma_n to first order);
* an elementwise formula (an activation, a derivative, a loss term) errs by at most
  C_F u (sum of the magnitudes of its textbook terms), C_F = 8 roundings;
* an error δ in an input moves a smooth function's output by |f'| δ, and its derivative by |f''| δ.

Forward:  E_Z = (n_{l-1} + 1)(|A_{l-1}||W_l| + |b_l|) + E_A |W_l|,
          E_A = C_F terms(g) + |g'| E_Z                (softmax: its |Jacobian| applied to E_Z)
Loss:     E_dA_L = r (C_F terms(loss') + |loss''| (E_A + C_F |A_L|)),   r = 1/m or 1
Backward: E_dZ = E_dA |g'| + |dA| (|g''| E_Z + C_F terms(g')) + C_F |dZ|
          E_dW = m |A|ᵀ|dZ| + E_Aᵀ|dZ| + |A|ᵀ E_dZ,   E_db = m Σ|dZ| + Σ E_dZ,
          E_dA_{l-1} = n_l |dZ||W|ᵀ + E_dZ |W|ᵀ
where |dA|, |dZ| are themselves propagated as magnitudes (sums of absolute terms), so that
cancellation never shrinks the bound. The bound covers any correct order of summation and any
textbook form of each formula (fused shortcuts or the general chain), because it charges the
magnitudes of the terms, not of the result. It scales with depth and width through the n's and
through the propagated E's: nothing in it is fitted to test outcomes.

An oracle may add a known error of its own (``oracle_error``), e.g. a finite-difference
truncation estimate; the complex-step and autograd oracles add none.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from crosscheck import activations, losses

UNIT_ROUNDOFF = {"float64": 2.0**-53, "float32": 2.0**-24}
C_F = 8
"""Roundings charged to one elementwise formula: a libm call (within a few ulp) and its arithmetic."""


@dataclass
class Bounds:
    """First-order error bounds in units of u, rows layout, one array per contract tensor."""

    S: dict[str, np.ndarray]
    """dW{l}, db{l}, dZ{l}, dA0 and 'loss' (a 0-d array)."""
    E_Z: list[np.ndarray]
    """Forward error bound of each Z_l (index l; E_Z[0] is unused)."""
    E_A: list[np.ndarray]
    Z: list[np.ndarray]
    A: list[np.ndarray]


def unit_roundoff(dtype: str) -> float:
    return UNIT_ROUNDOFF[str(dtype)]


def allowed(S: np.ndarray, dtype_a: str, dtype_b: str, oracle_error: np.ndarray | float = 0.0) -> np.ndarray:
    """The allowed |a - b| per entry when computation a (in dtype_a) meets computation b."""
    return (unit_roundoff(dtype_a) + unit_roundoff(dtype_b)) * S + oracle_error


def bounds(case: dict, params: dict, X: np.ndarray, Y: np.ndarray) -> Bounds:
    """Propagate magnitudes and error bounds (float64, rows layout) for one case."""
    L, m = len(case["activations"]), X.shape[0]
    names = case["activations"]
    W = {l: np.asarray(params[f"W{l}"], np.float64) for l in range(1, L + 1)}
    b = {l: np.asarray(params[f"b{l}"], np.float64) for l in range(1, L + 1)}
    A, E_A = [np.asarray(X, np.float64)], [np.zeros(X.shape)]
    Z, E_Z = [None], [None]
    with np.errstate(all="ignore"):
        for l in range(1, L + 1):
            Z.append(A[-1] @ W[l] + b[l])
            E_Z.append((W[l].shape[0] + 1) * (np.abs(A[-1]) @ np.abs(W[l]) + np.abs(b[l])) + E_A[-1] @ np.abs(W[l]))
            act = activations.get(names[l - 1])
            A.append(act.value(Z[l]))
            if act.elementwise:
                E_A.append(C_F * act.v_terms(Z[l]) + act.d1(Z[l]) * E_Z[l])
            else:  # softmax, with the max subtracted first
                Ez = E_Z[l] + C_F * (np.abs(Z[l]) + np.abs(Z[l]).max(1, keepdims=True))
                E_A.append(C_F * A[l] + A[l] * (Ez + (A[l] * Ez).sum(1, keepdims=True)))

        loss = losses.get(case["loss"])
        r = 1.0 / m if case["reduction"] == "mean" else 1.0
        a, y = A[L], np.asarray(Y, np.float64)
        E_a = E_A[L] + C_F * np.abs(a)
        terms = loss.grad_terms(a, y)
        S = {"loss": np.asarray(r * ((C_F + m) * loss.value_terms(a, y).sum() + (terms * E_a).sum()))}
        M_dA = r * terms
        E_dA = r * (C_F * terms + loss.hess_abs(a, y, E_a))
        for l in range(L, 0, -1):
            act = activations.get(names[l - 1])
            n = Z[l].shape[1]
            if act.elementwise:
                d1 = act.d1(Z[l])
                M_dZ = M_dA * d1
                E_dZ = E_dA * d1 + M_dA * (act.d2(Z[l]) * E_Z[l] + C_F * act.d1_terms(Z[l])) + C_F * M_dZ
            else:  # softmax: dZ = A (dA - <A, dA>)
                s = (A[l] * M_dA).sum(1, keepdims=True)
                M_dZ = A[l] * (M_dA + s)
                E_dZ = ((E_A[l] + C_F * A[l]) * (M_dA + s)
                        + A[l] * (E_dA + (E_A[l] * M_dA).sum(1, keepdims=True)
                                  + (A[l] * E_dA).sum(1, keepdims=True) + n * s))
            absA = np.abs(A[l - 1])
            S[f"dZ{l}"] = E_dZ
            S[f"dW{l}"] = m * (absA.T @ M_dZ) + E_A[l - 1].T @ M_dZ + absA.T @ E_dZ
            S[f"db{l}"] = m * M_dZ.sum(0, keepdims=True) + E_dZ.sum(0, keepdims=True)
            M_dA = M_dZ @ np.abs(W[l]).T
            E_dA = n * M_dA + E_dZ @ np.abs(W[l]).T
        S["dA0"] = E_dA
    return Bounds(S=S, E_Z=E_Z, E_A=E_A, Z=Z, A=A)


def kink_clearance(case: dict, bounds_: Bounds, Y: np.ndarray) -> np.ndarray:
    """Boolean (m,): True for examples whose every kink decision is unambiguous in the case's dtype.

    A relu or leaky_relu pre-activation, or a hinge margin, decides a branch. Two correct
    computations (the SUT in its dtype, an oracle in float64) take the same branch when the exact
    value lies farther from the kink than both of their rounding errors: |x| > (u + u64) E_x.
    """
    u = unit_roundoff(case["dtype"]) + unit_roundoff("float64")
    ok = np.ones(bounds_.Z[1].shape[0], dtype=bool)
    for l, name in enumerate(case["activations"], start=1):
        if activations.get(name).kink is not None:
            ok &= (np.abs(bounds_.Z[l]) > u * bounds_.E_Z[l]).all(1)
    if losses.get(case["loss"]).kink:
        a, E = bounds_.A[-1], bounds_.E_A[-1] + C_F * (np.abs(bounds_.A[-1]) + 1)
        onehot = losses.target_onehot(np.asarray(Y, np.float64))
        margin = losses.hinge_margins(a, onehot)
        E_margin = E + (E * onehot).sum(1, keepdims=True)
        ok &= ((np.abs(margin) > u * E_margin) | (onehot == 1)).all(1)
    return ok

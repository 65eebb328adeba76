"""Correct textbook forms of every formula in the contract, beyond the ones ``reference_impl`` uses.

Each table maps a contract name to its forms, and each form is one ``Form``: the formula as the
textbooks write it, and a NumPy function that computes it in the dtype of its arguments. Every
form is exact mathematics; they differ only in how they round, overflow and underflow, which is the
point: the error model (``crosscheck/tolerance.py``) must allow each of them, and
``tests/test_forms.py`` checks each against the harness's own definition within the model's bound.

* ``ACTIVATIONS[name]`` has ``value`` forms ``f(Z) -> A`` and ``derivative`` forms
  ``f(Z, A) -> g'(Z)`` (A is g(Z) as some value form computed it; a derivative written in A reads
  it). ``SOFTMAX`` has ``value`` forms ``f(Z, axis)`` and ``backward`` forms
  ``f(A, dA, axis) -> dZ``.
* ``LOSSES[name]`` has ``value`` forms ``f(A, Y, axis) -> per-example losses`` and ``gradient``
  forms ``f(A, Y, axis) -> d loss / dA`` (unreduced).
* ``FUSED[(activation, loss)]``: forms of dZ_L = (A_L - Y) / d where that shortcut holds, d = m
  for the mean and 1 for the sum.
* ``WEIGHT_GRADIENTS``: forms of (dW, db) from A_{l-1} and dZ_l, in either layout.

A form that feeds e^(k z) to no guard overflows beyond |z| = log(max float) / k, and one that
divides by a sum of exponentials underflows far below that: ``Form.exp_factor`` is k, and a
composite that uses such a form declares the scales it is valid on (``supports['scales']``).
Every other form is valid everywhere (e^-z overflowing to inf in 1 / (1 + e^-z) gives 0, the
right limit).

The composites (``examples/forms/composites.py``) each take one form of every formula.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.special import erf, erfc, ndtr, xlog1py, xlogy

_SQRT2 = math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


@dataclass(frozen=True)
class Form:
    formula: str
    fn: Callable
    exp_factor: float = 0.0
    """k when the form evaluates an unguarded e^(k z): it is valid only where k |z| < log(max float)."""


def _quiet(fn):
    """Run a form with overflow to inf allowed: its limits (1 / inf = 0) are the right values."""
    def wrapped(*args):
        with np.errstate(over="ignore", divide="ignore", under="ignore"):
            return fn(*args)
    wrapped.__doc__ = fn.__doc__
    return wrapped


def _forms(*forms: Form) -> dict[str, Form]:
    return {f.formula: Form(f.formula, _quiet(f.fn), f.exp_factor) for f in forms}


def _sigma(z):
    """1 / (1 + e^-z), unguarded: e^-z = inf gives 0."""
    return 1 / (1 + np.exp(-z))


def _sigma_tanh(z):
    """(1 + tanh(z / 2)) / 2: absolutely, not relatively, accurate."""
    return 0.5 * (1 + np.tanh(0.5 * z))


# ---------------------------------------------------------------------------------------------
# Elementwise activations: value forms f(Z), derivative forms f(Z, A)
# ---------------------------------------------------------------------------------------------

ACTIVATIONS: dict[str, dict[str, dict[str, Form]]] = {
    "identity": {
        "value": _forms(Form("1 z", lambda Z: 1.0 * Z), Form("z + 0", lambda Z: Z + 0.0)),
        "derivative": _forms(Form("full(1)", lambda Z, A: np.full_like(Z, 1.0)),
                             Form("[z = z]", lambda Z, A: (Z == Z).astype(Z.dtype))),
    },
    "sigmoid": {
        "value": _forms(Form("(1 + tanh(z/2)) / 2", _sigma_tanh),
                        Form("e^z / (1 + e^z)", lambda Z: np.exp(Z) / (1 + np.exp(Z)), exp_factor=1),
                        Form("1 / (1 + e^-z)", _sigma)),
        "derivative": _forms(Form("σ(z) σ(-z)", lambda Z, A: _sigma(Z) * _sigma(-Z)),
                             Form("e^-z / (1 + e^-z)^2", lambda Z, A: np.exp(-Z) / (1 + np.exp(-Z)) ** 2,
                                  exp_factor=1),
                             Form("1 / (e^z + 2 + e^-z)", lambda Z, A: 1 / (np.exp(Z) + 2 + np.exp(-Z)))),
    },
    "tanh": {
        "value": _forms(Form("1 - 2 / (e^2z + 1)", lambda Z: 1 - 2 / (np.exp(2 * Z) + 1)),
                        Form("(e^z - e^-z) / (e^z + e^-z)",
                             lambda Z: (np.exp(Z) - np.exp(-Z)) / (np.exp(Z) + np.exp(-Z)), exp_factor=1),
                        # ML-From-Scratch's TanH, 2 sigma(2z) - 1
                        Form("2 / (1 + e^-2z) - 1", lambda Z: 2 / (1 + np.exp(-2 * Z)) - 1)),
        "derivative": _forms(Form("1 / cosh^2 z", lambda Z, A: 1 / np.cosh(Z) ** 2),
                             Form("4 / (e^z + e^-z)^2", lambda Z, A: 4 / (np.exp(Z) + np.exp(-Z)) ** 2,
                                  exp_factor=1),
                             Form("(1 - A)(1 + A)", lambda Z, A: (1 - A) * (1 + A))),
    },
    "relu": {
        "value": _forms(Form("z [z > 0]", lambda Z: Z * (Z > 0)),
                        Form("(z + |z|) / 2", lambda Z: (Z + np.abs(Z)) / 2),
                        Form("clip(z, 0)", lambda Z: np.clip(Z, 0, None))),
        "derivative": _forms(Form("heaviside(z, 0)", lambda Z, A: np.heaviside(Z, 0.0).astype(Z.dtype)),
                             Form("[A > 0]", lambda Z, A: (A > 0).astype(Z.dtype)),
                             Form("sign(A)", lambda Z, A: np.abs(np.sign(A)))),
    },
    "leaky_relu": {
        "value": _forms(Form("max(z, 0.01 z)", lambda Z: np.maximum(Z, 0.01 * Z)),
                        Form("0.01 z + 0.99 max(z, 0)", lambda Z: 0.01 * Z + 0.99 * np.maximum(Z, 0)),
                        Form("z (1 if z >= 0 else 0.01)", lambda Z: Z * np.where(Z >= 0, 1, 0.01).astype(Z.dtype))),
        "derivative": _forms(Form("0.01 + 0.99 [z >= 0]", lambda Z, A: 0.01 + 0.99 * (Z >= 0).astype(Z.dtype)),
                             Form("1 if A >= 0 else 0.01", lambda Z, A: np.where(A >= 0, 1, 0.01).astype(Z.dtype)),
                             Form("1 - 0.99 [z < 0]", lambda Z, A: 1 - 0.99 * (Z < 0).astype(Z.dtype))),
    },
    "elu": {
        "value": _forms(Form("e^z - 1 (z <= 0)", lambda Z: np.where(Z > 0, Z, np.exp(np.minimum(Z, 0)) - 1)),
                        Form("max(z, 0) + expm1(min(z, 0))", lambda Z: np.maximum(Z, 0) + np.expm1(np.minimum(Z, 0)))),
        "derivative": _forms(Form("e^min(z, 0)", lambda Z, A: np.exp(np.minimum(Z, 0))),
                             Form("expm1(min(z, 0)) + 1", lambda Z, A: np.expm1(np.minimum(Z, 0)) + 1),
                             Form("min(A, 0) + 1", lambda Z, A: np.minimum(A, 0) + 1)),
    },
    "softplus": {
        "value": _forms(Form("max(z, 0) + log1p(e^-|z|)", lambda Z: np.maximum(Z, 0) + np.log1p(np.exp(-np.abs(Z)))),
                        Form("log(1 + e^z)", lambda Z: np.log(1 + np.exp(Z)), exp_factor=1),
                        Form("max(z, 0) + log(1 + e^-|z|)",
                             lambda Z: np.maximum(Z, 0) + np.log(1 + np.exp(-np.abs(Z))))),
        "derivative": _forms(Form("(1 + tanh(z/2)) / 2", lambda Z, A: _sigma_tanh(Z)),
                             Form("e^z / (1 + e^z)", lambda Z, A: np.exp(Z) / (1 + np.exp(Z)), exp_factor=1),
                             # softplus' = sigma = e^(z - softplus z), read from A
                             Form("e^(z - A)", lambda Z, A: np.exp(Z - A))),
    },
    "silu": {
        "value": _forms(Form("z / (1 + e^-z)", lambda Z: Z / (1 + np.exp(-Z))),
                        Form("z e^z / (1 + e^z)", lambda Z: Z * np.exp(Z) / (1 + np.exp(Z)), exp_factor=1),
                        Form("z (1 + tanh(z/2)) / 2", lambda Z: Z * _sigma_tanh(Z))),
        "derivative": _forms(Form("σ(z) (1 + z σ(-z))", lambda Z, A: _sigma(Z) * (1 + Z * _sigma(-Z))),
                             # the quotient rule on z / (1 + e^-z)
                             Form("(1 + e^-z + z e^-z) / (1 + e^-z)^2",
                                  lambda Z, A: (1 + np.exp(-Z) + Z * np.exp(-Z)) / (1 + np.exp(-Z)) ** 2,
                                  exp_factor=1),
                             # silu' = sigma + z sigma (1 - sigma) = sigma + A (1 - sigma)
                             Form("σ + A (1 - σ)", lambda Z, A: _sigma_tanh(Z) + A * (1 - _sigma_tanh(Z)))),
    },
    "gelu": {
        "value": _forms(Form("z erfc(-z/√2) / 2", lambda Z: Z * erfc(-Z / _SQRT2) / 2),
                        Form("z/2 + z erf(z/√2) / 2", lambda Z: Z / 2 + Z * erf(Z / _SQRT2) / 2),
                        Form("z ndtr(z)", lambda Z: Z * ndtr(Z))),
        "derivative": _forms(Form("erfc(-z/√2) / 2 + z φ(z)",
                                  lambda Z, A: erfc(-Z / _SQRT2) / 2 + Z * np.exp(-Z * Z / 2) * _INV_SQRT_2PI),
                             Form("ndtr(z) + z e^(-z²/2) / √(2π)",
                                  lambda Z, A: ndtr(Z) + Z * np.exp(-0.5 * Z * Z) / math.sqrt(2 * math.pi)),
                             # Phi = 1 - Q(z), Q the upper tail
                             Form("1 - erfc(z/√2) / 2 + z φ(z)",
                                  lambda Z, A: 1 - erfc(Z / _SQRT2) / 2 + Z * np.exp(-Z * Z / 2) * _INV_SQRT_2PI)),
    },
}


# ---------------------------------------------------------------------------------------------
# Softmax: value forms f(Z, axis), backward forms f(A, dA, axis) -> dZ
# ---------------------------------------------------------------------------------------------

def _logsumexp(Z, axis):
    shift = Z.max(axis=axis, keepdims=True)
    return shift + np.log(np.exp(Z - shift).sum(axis=axis, keepdims=True))


def _softmax_loop(Z, axis):
    """One example at a time: e = exp(z - max z), then e times 1 / sum e."""
    out = np.empty_like(Z)
    for i in range(Z.shape[1 - axis]):
        z = np.take(Z, i, axis=1 - axis)
        e = np.exp(z - z.max())
        p = e * (1 / e.sum())
        if axis == 1:
            out[i] = p
        else:
            out[:, i] = p
    return out


def _jacobian_rows(A, dA, axis):
    """(diag(a) - a aᵀ) da for every example, the Jacobian formed in full."""
    a, da = (A, dA) if axis == 1 else (A.T, dA.T)
    J = np.einsum("ij,jk->ijk", a, np.eye(a.shape[1], dtype=a.dtype)) - np.einsum("ij,ik->ijk", a, a)
    dz = np.einsum("ijk,ik->ij", J, da)
    return dz if axis == 1 else dz.T


def _jacobian_loop(A, dA, axis):
    """One example at a time: (np.diag(a) - np.outer(a, a)) @ da."""
    out = np.empty_like(A)
    for i in range(A.shape[1 - axis]):
        a, da = np.take(A, i, axis=1 - axis), np.take(dA, i, axis=1 - axis)
        dz = (np.diag(a) - np.outer(a, a)) @ da
        if axis == 1:
            out[i] = dz
        else:
            out[:, i] = dz
    return out


SOFTMAX: dict[str, dict[str, Form]] = {
    "value": _forms(Form("exp(z - logsumexp z)", lambda Z, axis: np.exp(Z - _logsumexp(Z, axis))),
                    Form("e^z / Σ e^z (no shift)", lambda Z, axis: np.exp(Z) / np.exp(Z).sum(axis=axis, keepdims=True),
                         exp_factor=1),
                    Form("per example: e^(z - max) (1 / Σ)", _softmax_loop)),
    "backward": _forms(Form("(diag(a) - a aᵀ) da", _jacobian_rows),
                       Form("a da - a <a, da>",
                            lambda A, dA, axis: A * dA - A * (A * dA).sum(axis=axis, keepdims=True)),
                       Form("per example: (diag(a) - outer(a, a)) @ da", _jacobian_loop)),
}


# ---------------------------------------------------------------------------------------------
# Losses: value forms f(A, Y, axis) -> per-example losses, gradient forms f(A, Y, axis) -> dloss/dA
# ---------------------------------------------------------------------------------------------

def _dot(R, S, axis):
    """Σ_k r_k s_k per example, as an einsum."""
    return np.einsum("ij,ij->i" if axis == 1 else "ij,ij->j", R, S)


def _target(Y, axis):
    return np.expand_dims(np.argmax(Y, axis=axis), axis)


def _hinge_loop(A, Y, axis):
    """One example and one wrong class at a time: Σ_{k != c} max(0, a_k - a_c + 1)."""
    a, y = (A, Y) if axis == 1 else (A.T, Y.T)
    out = np.zeros(a.shape[0], dtype=A.dtype)
    for i in range(a.shape[0]):
        c = int(np.argmax(y[i]))
        for k in range(a.shape[1]):
            if k != c:
                out[i] += max(a[i, k] - a[i, c] + 1, 0)
    return out


def _hinge_grad_loop(A, Y, axis):
    """One example and one wrong class at a time: +1 at an active class, -1 at the target for each."""
    a, y = (A, Y) if axis == 1 else (A.T, Y.T)
    g = np.zeros_like(a)
    for i in range(a.shape[0]):
        c = int(np.argmax(y[i]))
        for k in range(a.shape[1]):
            if k != c and a[i, k] - a[i, c] + 1 > 0:
                g[i, k] += 1
                g[i, c] -= 1
    return g if axis == 1 else g.T


def _hinge_masked(A, Y, axis):
    """(1 - y) ⊙ max(0, a - <a, y> + 1), summed: the target's own margin masked out by y."""
    a_c = (A * Y).sum(axis=axis, keepdims=True)
    return ((1 - Y) * np.maximum(0, A - a_c + 1)).sum(axis=axis)


def _hinge_grad_masked(A, Y, axis):
    a_c = (A * Y).sum(axis=axis, keepdims=True)
    active = ((1 - Y) * (A - a_c + 1 > 0)).astype(A.dtype)
    return active - Y * active.sum(axis=axis, keepdims=True)


def _torch_bce_with_logits(A, Y, axis):
    """PyTorch's form: (1 - y) a + m + log(e^-m + e^(-a - m)), m = max(-a, 0)."""
    m = np.maximum(-A, 0)
    return ((1 - Y) * A + m + np.log(np.exp(-m) + np.exp(-A - m))).sum(axis=axis)


LOSSES: dict[str, dict[str, dict[str, Form]]] = {
    "sse": {
        "value": _forms(Form("(a - y)·(a - y)", lambda A, Y, axis: _dot(A - Y, A - Y, axis)),
                        Form("Σ square(a - y)", lambda A, Y, axis: np.square(A - Y).sum(axis=axis)),
                        Form("‖a - y‖²", lambda A, Y, axis: np.linalg.norm(A - Y, axis=axis) ** 2)),
        "gradient": _forms(Form("2a - 2y", lambda A, Y, axis: 2 * A - 2 * Y),
                           Form("(a - y) + (a - y)", lambda A, Y, axis: (A - Y) + (A - Y)),
                           Form("-2 (y - a)", lambda A, Y, axis: -2 * (Y - A))),
    },
    "half_sse": {
        "value": _forms(Form("(a - y)·(a - y) / 2", lambda A, Y, axis: _dot(A - Y, A - Y, axis) / 2),
                        Form("Σ square(a - y) / 2", lambda A, Y, axis: np.square(A - Y).sum(axis=axis) / 2),
                        Form("‖a - y‖² / 2", lambda A, Y, axis: np.linalg.norm(A - Y, axis=axis) ** 2 / 2)),
        "gradient": _forms(Form("-(y - a)", lambda A, Y, axis: -(Y - A)),
                           Form("(2a - 2y) / 2", lambda A, Y, axis: (2 * A - 2 * Y) / 2),
                           Form("(a - y)/2 + (a - y)/2", lambda A, Y, axis: (A - Y) / 2 + (A - Y) / 2)),
    },
    "mse": {
        "value": _forms(Form("(a - y)·(a - y) / K", lambda A, Y, axis: _dot(A - Y, A - Y, axis) / A.shape[axis]),
                        Form("Σ square(a - y) (1/K)",
                             lambda A, Y, axis: np.square(A - Y).sum(axis=axis) * (1 / A.shape[axis])),
                        Form("‖a - y‖² / K", lambda A, Y, axis: np.linalg.norm(A - Y, axis=axis) ** 2 / A.shape[axis])),
        "gradient": _forms(Form("(2/K)(a - y)", lambda A, Y, axis: (2 / A.shape[axis]) * (A - Y)),
                           Form("2 (a - y) (1/K)", lambda A, Y, axis: 2 * (A - Y) * (1 / A.shape[axis])),
                           Form("(2a - 2y) / K", lambda A, Y, axis: (2 * A - 2 * Y) / A.shape[axis])),
    },
    "bce": {
        "value": _forms(Form("-(xlogy(y, a) + xlog1py(1 - y, -a))",
                             lambda A, Y, axis: -(xlogy(Y, A) + xlog1py(1 - Y, -A)).sum(axis=axis)),
                        Form("-log a if y = 1 else -log(1 - a)",
                             lambda A, Y, axis: np.where(Y == 1, -np.log(A), -np.log(1 - A)).sum(axis=axis)),
                        Form("-(y log a + (1 - y) log1p(-a))",
                             lambda A, Y, axis: -(Y * np.log(A) + (1 - Y) * np.log1p(-A)).sum(axis=axis))),
        "gradient": _forms(Form("(a - y) / (a (1 - a))", lambda A, Y, axis: (A - Y) / (A * (1 - A))),
                           Form("-1/a if y = 1 else 1/(1 - a)",
                                lambda A, Y, axis: np.where(Y == 1, -1 / A, 1 / (1 - A))),
                           Form("(1 - y) (1/(1 - a)) - y (1/a)",
                                lambda A, Y, axis: (1 - Y) * (1 / (1 - A)) - Y * (1 / A))),
    },
    "cross_entropy": {
        "value": _forms(Form("-Σ xlogy(y, a)", lambda A, Y, axis: -xlogy(Y, A).sum(axis=axis)),
                        Form("-log a_c", lambda A, Y, axis: -np.log(np.take_along_axis(A, _target(Y, axis), axis)
                                                                   ).sum(axis=axis)),
                        Form("-y·log a", lambda A, Y, axis: -_dot(Y, np.log(A), axis))),
        "gradient": _forms(Form("-y (1/a)", lambda A, Y, axis: -Y * (1 / A)),
                           Form("-1/a_c at c, 0 elsewhere",
                                lambda A, Y, axis: np.where(Y == 1, -1 / A, 0).astype(A.dtype)),
                           Form("-y/a, 0 where y = 0",
                                lambda A, Y, axis: -np.divide(Y, A, out=np.zeros_like(A), where=Y != 0))),
    },
    "softmax_cross_entropy": {
        "value": _forms(Form("logsumexp(a) Σy - y·a",
                             lambda A, Y, axis: (_logsumexp(A, axis).squeeze(axis) * Y.sum(axis=axis)
                                                 - _dot(Y, A, axis))),
                        Form("log Σ e^a - y·a (no shift)",
                             lambda A, Y, axis: np.log(np.exp(A).sum(axis=axis)) * Y.sum(axis=axis) - _dot(Y, A, axis),
                             exp_factor=1),
                        Form("-y·(a - logsumexp a)", lambda A, Y, axis: -_dot(Y, A - _logsumexp(A, axis), axis))),
        "gradient": _forms(Form("exp(a - logsumexp a) Σy - y",
                                lambda A, Y, axis: (np.exp(A - _logsumexp(A, axis)) * Y.sum(axis=axis, keepdims=True)
                                                    - Y)),
                           Form("e^a / Σ e^a - y (no shift)",
                                lambda A, Y, axis: np.exp(A) / np.exp(A).sum(axis=axis, keepdims=True) - Y,
                                exp_factor=1),
                           Form("per-example softmax(a) - y", lambda A, Y, axis: _softmax_loop(A, axis) - Y)),
    },
    "bce_with_logits": {
        "value": _forms(Form("max(a, 0) - a y + log1p(e^-|a|)",
                             lambda A, Y, axis: (np.maximum(A, 0) - A * Y
                                                 + np.log1p(np.exp(-np.abs(A)))).sum(axis=axis)),
                        Form("log(1 + e^a) - y a", lambda A, Y, axis: (np.log(1 + np.exp(A)) - Y * A).sum(axis=axis),
                             exp_factor=1),
                        Form("(1 - y) a + m + log(e^-m + e^(-a-m))", _torch_bce_with_logits)),
        "gradient": _forms(Form("(1 + tanh(a/2)) / 2 - y", lambda A, Y, axis: _sigma_tanh(A) - Y),
                           Form("e^a / (1 + e^a) - y",
                                lambda A, Y, axis: np.exp(A) / (1 + np.exp(A)) - Y, exp_factor=1),
                           Form("(1 - y) σ(a) - y σ(-a)", lambda A, Y, axis: (1 - Y) * _sigma(A) - Y * _sigma(-A))),
    },
    "hinge": {
        "value": _forms(Form("per example, per class: max(0, a_k - a_c + 1)", _hinge_loop),
                        Form("Σ_k max(0, a_k - a_c + 1) - 1", lambda A, Y, axis: np.maximum(
                            0, A - np.take_along_axis(A, _target(Y, axis), axis) + 1).sum(axis=axis) - 1),
                        Form("(1 - y)·max(0, a - <a, y> + 1)", _hinge_masked)),
        "gradient": _forms(Form("per example, per class: ±1", _hinge_grad_loop),
                           Form("[margin > 0] (1 - y) - y Σ", _hinge_grad_masked)),
    },
}


# ---------------------------------------------------------------------------------------------
# Fused output shortcuts: dZ_L directly, given r
# ---------------------------------------------------------------------------------------------

FUSED: dict[tuple[str, str], dict[str, Form]] = {
    pair: _forms(Form("(1/d) A - (1/d) Y", lambda A, Y, d: (1 / d) * A - (1 / d) * Y),
                 Form("(A - Y) / d", lambda A, Y, d: (A - Y) / d))
    for pair in (("softmax", "cross_entropy"), ("sigmoid", "bce"))
}
"""f(A, Y, d) with d = m for the mean, 1 for the sum (or 1 where the mean is applied later)."""


# ---------------------------------------------------------------------------------------------
# dW and db from A_{l-1} and dZ_l: f(A_prev, dZ, rows) -> (dW, db)
# ---------------------------------------------------------------------------------------------

def _per_example(A_prev, dZ, rows):
    """Σ_i a_i dz_iᵀ, one outer product per example, and Σ_i dz_i."""
    a, dz = (A_prev, dZ) if rows else (A_prev.T, dZ.T)
    dW = np.zeros((a.shape[1], dz.shape[1]), dtype=dZ.dtype)
    db = np.zeros((1, dz.shape[1]), dtype=dZ.dtype)
    for i in range(a.shape[0]):
        dW += np.outer(a[i], dz[i])
        db += dz[i]
    return (dW, db) if rows else (dW.T, db.T)


def _einsum(A_prev, dZ, rows):
    """dW_jk = Σ_i a_ij dz_ik as an einsum, db = Σ_i dz_i."""
    if rows:
        return np.einsum("ij,ik->jk", A_prev, dZ), np.einsum("ik->k", dZ)[None, :]
    return np.einsum("ki,ji->kj", dZ, A_prev), np.einsum("ki->k", dZ)[:, None]


def _products(A_prev, dZ, rows):
    """Aᵀ dZ (rows) or dZ Aᵀ (columns), and db as dZ times a vector of ones."""
    if rows:
        return A_prev.T @ dZ, np.ones((1, dZ.shape[0]), dtype=dZ.dtype) @ dZ
    return dZ @ A_prev.T, dZ @ np.ones((dZ.shape[1], 1), dtype=dZ.dtype)


WEIGHT_GRADIENTS: dict[str, Callable] = {
    "per-example loop": _per_example,
    "einsum": _einsum,
    "products with a ones vector": _products,
}

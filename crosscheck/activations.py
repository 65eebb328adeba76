"""The activation table: one row per contract activation name.

Each row holds the harness's own float64 definition of g (complex-safe, so the complex-step
oracle can run through it) and the magnitudes the error model needs, written so that tiny values
stay accurate (sigma(z) sigma(-z), not sigma (1 - sigma)): a magnitude that rounds to zero would
hide the error it is meant to bound. Nothing here is the SUT's
code, and no oracle takes a derivative from this table: the finite-difference oracle uses ``value``
only, and ``tolerance.py`` uses the magnitudes.

Complex-safe means: branches are chosen on the real part, which a complex step leaves untouched, so
Im(g(z + ih)) / h is the derivative of the branch the unperturbed z lies on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import special

Array = np.ndarray


def _where(cond, a, b):
    with np.errstate(all="ignore"):
        return np.where(cond, a, b)


def sigmoid(z: Array) -> Array:
    """1 / (1 + e^-z), evaluated on the side that cannot overflow."""
    z = np.asarray(z)
    if z.dtype.kind == "f":  # both sides from one exponential, e^-|z|: the same numbers, a third of the work
        with np.errstate(all="ignore"):
            e = np.exp(-np.abs(z))
            return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
    with np.errstate(all="ignore"):
        pos = 1.0 / (1.0 + np.exp(-z))
        neg = np.exp(z) / (1.0 + np.exp(z))
    return _where(z.real >= 0, pos, neg)


def softplus(z: Array) -> Array:
    """log(1 + e^z) = max(z, 0) + log1p(e^-|z|), written per branch to stay complex-safe."""
    with np.errstate(all="ignore"):
        pos = z + np.log1p(np.exp(-z))
        neg = np.log1p(np.exp(z))
    return _where(z.real > 0, pos, neg)


def _elu(z: Array) -> Array:
    with np.errstate(all="ignore"):
        return _where(z.real > 0, z, np.expm1(z))


def softmax(z: Array) -> Array:
    """e^{z_k} / sum_j e^{z_j} over the last axis (one example per row)."""
    shift = z.real.max(axis=-1, keepdims=True)  # a real shift keeps the complex step intact
    e = np.exp(z - shift)
    return e / e.sum(axis=-1, keepdims=True)


@dataclass(frozen=True)
class Activation:
    name: str
    formula: str
    value: Callable[[Array], Array]
    """g(z), float64 or complex128, rows layout (examples along axis -2, units along axis -1)."""
    v_terms: Callable[[Array], Array] | None
    """Sum of the magnitudes of the terms in the textbook formula for g (the rounding scale of A)."""
    d1: Callable[[Array], Array] | None
    """|g'(z)| (elementwise activations only)."""
    d2: Callable[[Array], Array] | None
    """|g''(z)|, how fast g' moves when z carries a rounding error."""
    d1_terms: Callable[[Array], Array] | None
    """Sum of the magnitudes of the terms in the textbook formula for g' (the rounding scale)."""
    kink: float | None = None
    """Where g' jumps, if anywhere: generated cases keep pre-activations clear of it."""
    elementwise: bool = True


def _s(z):
    return sigmoid(z)


def sig_terms(z):
    """The rounding scale of sigmoid: 1/2 + |tanh(z/2)|/2, the terms of sigma = (1 + tanh(z/2)) / 2.

    XLA evaluates the logistic function in that form, accurate to u absolutely rather than
    relatively, so a saturated sigmoid may come out as exactly 0 there.
    """
    return 0.5 * (1 + np.abs(np.tanh(z / 2)))


def tanh_terms(z):
    """The rounding scale of tanh: 2 + |tanh z|, the terms of its exp forms, accurate to u absolutely.

    2 sigma(2z) - 1 = 2 / (1 + e^-2z) - 1 adds 1 + tanh z and 1; 1 - 2 / (e^2z + 1) adds 1 and
    1 - tanh z; (e^z - e^-z) / (e^z + e^-z) rounds its numerator at u (e^z + e^-z), u after the
    division. Near 0 each of them errs by u while tanh z is tiny.
    """
    return 2 + np.abs(np.tanh(z))


def _sech2(z):
    """tanh'(z) = sech^2 z, without the cancellation of 1 - tanh^2 (the error model needs tiny values)."""
    with np.errstate(over="ignore"):
        return 1.0 / np.cosh(z) ** 2


ACTIVATIONS: dict[str, Activation] = {
    a.name: a
    for a in [
        Activation("identity", "g(z) = z",
                   lambda z: z, np.abs, lambda z: np.ones_like(z), lambda z: np.zeros_like(z),
                   lambda z: np.ones_like(z)),
        Activation("sigmoid", "g(z) = 1 / (1 + e^-z);  g' = g (1 - g)",
                   sigmoid, sig_terms, lambda z: _s(z) * _s(-z),
                   lambda z: _s(z) * _s(-z) * np.abs(_s(-z) - _s(z)),
                   # A (1 - A) rounds at sig_terms + sigma, and moves A's rounding by |1 - 2A|
                   lambda z: sig_terms(z) + _s(z) + np.abs(_s(-z) - _s(z)) * sig_terms(z)),
        Activation("tanh", "g(z) = tanh z;  g' = 1 - g^2",
                   np.tanh, tanh_terms, _sech2,
                   lambda z: 2 * np.abs(np.tanh(z)) * _sech2(z),
                   # 1 - A^2 rounds at 1 + A^2, and moves A's rounding (tanh_terms) by |2A|
                   lambda z: 1 + np.tanh(z) ** 2 + 2 * np.abs(np.tanh(z)) * tanh_terms(z)),
        Activation("relu", "g(z) = max(0, z);  g' = [z > 0] (0 at z = 0)",
                   lambda z: _where(z.real > 0, z, 0.0 * z), lambda z: np.maximum(z, 0),
                   lambda z: (z > 0) * 1.0,
                   lambda z: np.zeros_like(z), lambda z: (z > 0) * 1.0, kink=0.0),
        Activation("leaky_relu", "g(z) = z for z >= 0, 0.01 z for z < 0",
                   lambda z: _where(z.real >= 0, z, 0.01 * z),
                   lambda z: np.where(z >= 0, z, -0.01 * z), lambda z: np.where(z >= 0, 1.0, 0.01),
                   lambda z: np.zeros_like(z),
                   # 1 - 0.99 [z < 0] cancels its terms 1 and 0.99 down to 0.01
                   lambda z: np.where(z >= 0, 1.0, 1.99), kink=0.0),
        Activation("elu", "g(z) = z for z > 0, e^z - 1 otherwise;  g' = g + 1 for z <= 0",
                   _elu,
                   lambda z: np.where(z > 0, z, 2.0),  # e^z - 1 may be formed naively: scale 1
                   lambda z: np.where(z > 0, 1.0, np.exp(np.minimum(z, 0))),
                   lambda z: np.where(z > 0, 0.0, np.exp(np.minimum(z, 0))),
                   # A + 1 rounds at |A| + 1 <= 2, and carries A's own rounding (scale 2)
                   lambda z: np.where(z > 0, 1.0, 4.0)),
        Activation("softplus", "g(z) = log(1 + e^z);  g' = sigmoid(z)",
                   softplus, lambda z: softplus(z) + 1,  # log(1 + e^z) rounds 1 + e^z
                   # sigma(z) may be formed as exp(z - softplus(z)): rounding grows with softplus(z)
                   _s, lambda z: _s(z) * _s(-z), lambda z: sig_terms(z) + _s(z) * (1 + softplus(z))),
        Activation("silu", "g(z) = z sigmoid(z);  g' = s + z s (1 - s)",
                   lambda z: z * sigmoid(z), lambda z: np.abs(z) * sig_terms(z),
                   lambda z: np.abs(_s(z) * (1 + z * _s(-z))),
                   lambda z: np.abs(_s(z) * _s(-z) * (2 + z * (_s(-z) - _s(z)))),
                   # sigma + A (1 - sigma) also moves A's rounding (|z| sig_terms) by 1 - sigma
                   lambda z: (1 + np.abs(z)) * sig_terms(z) + np.abs(z) * _s(z) + _s(-z) * np.abs(z) * sig_terms(z)),
        Activation("gelu", "g(z) = z Phi(z), Phi(z) = erfc(-z / sqrt 2) / 2;  g' = Phi + z phi",
                   lambda z: z * 0.5 * special.erfc(-z / np.sqrt(2)),
                   lambda z: np.abs(z) * _Phi_terms(z),  # (1 + erf) / 2 rounds at scale 1
                   lambda z: np.abs(_Phi(z) + z * _phi(z)),
                   lambda z: np.abs(_phi(z) * (2 - z * z)),
                   lambda z: _Phi_terms(z) + np.abs(z) * _phi(z)),
        Activation("softmax", "g(z)_k = e^{z_k} / sum_j e^{z_j} per example (Jacobian not diagonal)",
                   softmax, None, None, None, None, elementwise=False),
    ]
}


def _Phi(z):
    return 0.5 * special.erfc(-z / np.sqrt(2))


def _Phi_terms(z):
    return 0.5 * (1 + np.abs(special.erf(z / np.sqrt(2))))


def _phi(z):
    return np.exp(-0.5 * z * z) / np.sqrt(2 * np.pi)


NAMES = tuple(ACTIVATIONS)


def get(name: str) -> Activation:
    try:
        return ACTIVATIONS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown activation {name!r}; valid names: {', '.join(NAMES)}") from None

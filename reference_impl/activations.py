"""Activations and their derivatives, as the derivations write them.

Each entry maps a name to (g, g') where g' takes both Z and A = g(Z), so a derivative can use
whichever the textbook formula uses (sigmoid' = A (1 - A) reads the cached A). Softmax is the one
activation that is not elementwise: it has its own Jacobian-vector product, ``softmax_backward``.
"""

import math

import numpy as np
from scipy.special import erf


def sigmoid(Z):
    # two branches so that exp never overflows
    out = np.empty_like(Z)
    pos = Z >= 0
    out[pos] = 1 / (1 + np.exp(-Z[pos]))
    e = np.exp(Z[~pos])
    out[~pos] = e / (1 + e)
    return out


def softmax(Z, axis):
    """e^{z_k} / sum_j e^{z_j} along the unit axis (1 for rows, 0 for columns)."""
    e = np.exp(Z - Z.max(axis=axis, keepdims=True))  # shifting by the max changes nothing but overflow
    return e / e.sum(axis=axis, keepdims=True)


def softmax_backward(dA, A, axis):
    """dZ = J^T dA for one softmax per example: dz_k = a_k (da_k - sum_j a_j da_j)."""
    return A * (dA - (A * dA).sum(axis=axis, keepdims=True))


def _gelu(Z):
    return Z * 0.5 * (1 + erf(Z / math.sqrt(2)))


def _gelu_prime(Z, A):
    Phi = 0.5 * (1 + erf(Z / math.sqrt(2)))
    phi = np.exp(-0.5 * Z * Z) / math.sqrt(2 * math.pi)
    return Phi + Z * phi


def _softplus(Z):
    return np.logaddexp(0, Z)


def _silu_prime(Z, A):
    s = sigmoid(Z)
    return s * (1 + Z * (1 - s))


# name -> (g(Z), g'(Z, A)); softmax's entry has no elementwise derivative.
ACTIVATIONS = {
    "identity": (lambda Z: Z, lambda Z, A: np.ones_like(Z)),
    "sigmoid": (sigmoid, lambda Z, A: A * (1 - A)),                      # σ' = σ(1 − σ)
    "tanh": (np.tanh, lambda Z, A: 1 - A * A),                           # tanh' = 1 − tanh²
    "relu": (lambda Z: np.maximum(Z, 0), lambda Z, A: (Z > 0).astype(Z.dtype)),  # 0 at z = 0
    "leaky_relu": (lambda Z: np.where(Z >= 0, Z, 0.01 * Z),
                   lambda Z, A: np.where(Z >= 0, 1, 0.01).astype(Z.dtype)),
    "elu": (lambda Z: np.where(Z > 0, Z, np.expm1(np.minimum(Z, 0))),
            lambda Z, A: np.where(Z > 0, 1, A + 1).astype(Z.dtype)),    # e^z = A + 1 for z ≤ 0
    "softplus": (_softplus, lambda Z, A: sigmoid(Z)),                    # softplus' = σ
    "silu": (lambda Z: Z * sigmoid(Z), _silu_prime),                     # σ + zσ(1 − σ)
    "gelu": (_gelu, _gelu_prime),                                        # Φ + zφ
    "softmax": (None, None),
}


def get(name):
    if not isinstance(name, str) or name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; valid: {', '.join(ACTIVATIONS)}")
    return ACTIVATIONS[name]

"""Backprop by the plain chain rule, with no fused output-layer shortcuts.

Style shown
-----------
The backward pass never special-cases a loss/activation pairing. It always
starts from ``dA_L = dJ/dA_L``, the loss derivative alone, and pushes it
through the output activation's own derivative, exactly as for any hidden
layer: elementwise activations multiply by ``g'(Z)``, and softmax applies its
full Jacobian-vector product ``dz = a * (da - sum(a * da))``. So
softmax + cross_entropy and sigmoid + bce go the long way round instead of
using ``A - Y``.

The code works natively in either layout: ``unit_axis`` (1 for rows, 0 for
columns) says which axis holds the units of one example, and the three
layout-dependent products are written out once for each layout.

Numerically careful forms keep it finite on moderately saturated inputs:
log-sum-exp for softmax_cross_entropy, ``logaddexp`` for softplus and
bce_with_logits, ``erfc`` for the normal CDF in gelu, ``xlogy`` for
``y log a`` terms, ``sigmoid(z) sigmoid(-z)`` and a log-domain ``sech^2``
for the sigmoid and tanh derivatives, and ``0/0 -> 0`` where a zero target
meets a probability that underflowed.

Running it against the suite
----------------------------
From the repository root::

    pytest -m crosscheck --sut=examples/suts/general_chain.py:backprop
"""

import math
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
from scipy.special import erfc, expit, xlog1py, xlogy

__all__ = ["backprop", "run", "Activation", "ACTIVATIONS", "LOSSES"]

_LN2 = math.log(2.0)
_INV_SQRT2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


class Activation(NamedTuple):
    """An activation as a forward and a backward function.

    ``forward(Z, axis)`` returns ``A = g(Z)``; ``backward(Z, A, dA, axis)``
    returns ``dZ``. All arrays share one shape, ``(m, n)`` for rows or
    ``(n, m)`` for columns, and ``axis`` is the axis of the ``n`` units.
    """

    forward: Callable
    backward: Callable


# ---------------------------------------------------------------------------
# Activations
# ---------------------------------------------------------------------------

def _softmax(Z, axis):
    E = np.exp(Z - Z.max(axis=axis, keepdims=True))
    return E / E.sum(axis=axis, keepdims=True)


def _softmax_backward(Z, A, dA, axis):
    # J^T v for J = diag(a) - a a^T, without forming J
    return A * (dA - np.sum(A * dA, axis=axis, keepdims=True))


def _sech2(Z):
    # sech^2 z = (2 / (e^z + e^-z))^2, kept in the log domain so it neither
    # overflows nor suffers the cancellation in 1 - tanh^2 z
    return np.exp(2.0 * (_LN2 - np.logaddexp(Z, -Z)))


def _normal_cdf(Z):
    # erfc avoids the cancellation in 1 + erf(z / sqrt 2) for negative z
    return 0.5 * erfc(-Z * _INV_SQRT2)


def _gelu_backward(Z, A, dA, axis):
    return dA * (_normal_cdf(Z) + Z * _INV_SQRT_2PI * np.exp(-0.5 * Z * Z))


ACTIVATIONS = {
    "identity": Activation(
        lambda Z, axis: Z.copy(),
        lambda Z, A, dA, axis: dA.copy()),
    "sigmoid": Activation(
        lambda Z, axis: expit(Z),
        lambda Z, A, dA, axis: dA * expit(Z) * expit(-Z)),
    "tanh": Activation(
        lambda Z, axis: np.tanh(Z),
        lambda Z, A, dA, axis: dA * _sech2(Z)),
    "relu": Activation(
        lambda Z, axis: np.maximum(Z, 0.0),
        lambda Z, A, dA, axis: np.where(Z > 0, dA, 0.0)),
    "leaky_relu": Activation(
        lambda Z, axis: np.where(Z >= 0, Z, 0.01 * Z),
        lambda Z, A, dA, axis: np.where(Z >= 0, dA, 0.01 * dA)),
    "elu": Activation(
        lambda Z, axis: np.where(Z > 0, Z, np.expm1(np.minimum(Z, 0.0))),
        lambda Z, A, dA, axis: np.where(Z > 0, dA, dA * np.exp(np.minimum(Z, 0.0)))),
    "softplus": Activation(
        lambda Z, axis: np.logaddexp(0.0, Z),
        lambda Z, A, dA, axis: dA * expit(Z)),
    "silu": Activation(
        lambda Z, axis: Z * expit(Z),
        lambda Z, A, dA, axis: dA * expit(Z) * (1.0 + Z * expit(-Z))),
    "gelu": Activation(
        lambda Z, axis: Z * _normal_cdf(Z),
        _gelu_backward),
    "softmax": Activation(_softmax, _softmax_backward),
}


# ---------------------------------------------------------------------------
# Losses: (per-example losses of shape (m,), dL/dA shaped like A)
# ---------------------------------------------------------------------------

def _ratio(num, den):
    # a zero numerator contributes nothing even when den underflowed to 0
    return np.divide(num, den, out=np.zeros_like(num), where=num != 0)


def _sse(A, Y, axis):
    R = A - Y
    return np.sum(R * R, axis=axis), 2.0 * R


def _half_sse(A, Y, axis):
    R = A - Y
    return 0.5 * np.sum(R * R, axis=axis), R


def _mse(A, Y, axis):
    R = A - Y
    K = A.shape[axis]
    return np.sum(R * R, axis=axis) / K, (2.0 / K) * R


def _bce(A, Y, axis):
    losses = -np.sum(xlogy(Y, A) + xlog1py(1.0 - Y, -A), axis=axis)
    return losses, _ratio(1.0 - Y, 1.0 - A) - _ratio(Y, A)


def _cross_entropy(A, Y, axis):
    return -np.sum(xlogy(Y, A), axis=axis), -_ratio(Y, A)


def _softmax_cross_entropy(A, Y, axis):
    shifted = A - A.max(axis=axis, keepdims=True)
    log_norm = np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))
    log_probs = shifted - log_norm
    grad = np.exp(log_probs) * np.sum(Y, axis=axis, keepdims=True) - Y
    return -np.sum(Y * log_probs, axis=axis), grad


def _bce_with_logits(A, Y, axis):
    # -[y log s(a) + (1 - y) log(1 - s(a))] = softplus(a) - y a
    return np.sum(np.logaddexp(0.0, A) - Y * A, axis=axis), expit(A) - Y


def _hinge(A, Y, axis):
    c = np.expand_dims(np.argmax(Y, axis=axis), axis)
    correct = np.take_along_axis(A, c, axis=axis)
    margins = A - correct + 1.0
    np.put_along_axis(margins, c, 0.0, axis=axis)
    # the derivative of max(0, x) at x == 0 is taken as 0
    grad = (margins > 0).astype(A.dtype)
    np.put_along_axis(grad, c, -np.sum(grad, axis=axis, keepdims=True), axis=axis)
    return np.sum(np.maximum(margins, 0.0), axis=axis), grad


LOSSES = {
    "sse": _sse,
    "half_sse": _half_sse,
    "mse": _mse,
    "bce": _bce,
    "cross_entropy": _cross_entropy,
    "softmax_cross_entropy": _softmax_cross_entropy,
    "bce_with_logits": _bce_with_logits,
    "hinge": _hinge,
}

_LAYOUTS = ("rows", "columns")
_DTYPES = ("float32", "float64")
_REDUCTIONS = ("mean", "sum")


def _require(kind, name, valid):
    if name not in valid:
        raise ValueError(f"unknown {kind} {name!r}; valid names: {', '.join(sorted(valid))}")


# ---------------------------------------------------------------------------
# The network
# ---------------------------------------------------------------------------

def run(case, params, X, Y, activations=ACTIVATIONS):
    """`backprop` with a replaceable activation table.

    Parameters
    ----------
    case, params, X, Y
        As for `backprop`.
    activations : dict of str to Activation, optional
        The activation table; other modules pass a modified copy.

    Returns
    -------
    dict
        As for `backprop`.
    """
    layout = case["layout"]
    _require("layout", layout, _LAYOUTS)
    _require("dtype", case["dtype"], _DTYPES)
    _require("reduction", case["reduction"], _REDUCTIONS)
    _require("loss", case["loss"], LOSSES)
    for name in case["activations"]:
        _require("activation", name, activations)

    dtype = np.dtype(case["dtype"])
    n_layers = len(case["sizes"]) - 1
    Ws = [np.asarray(params[f"W{l}"], dtype=dtype) for l in range(1, n_layers + 1)]
    bs = [np.asarray(params[f"b{l}"], dtype=dtype) for l in range(1, n_layers + 1)]
    X = np.asarray(X, dtype=dtype)
    Y = np.asarray(Y, dtype=dtype)
    layers = [activations[name] for name in case["activations"]]

    rows = layout == "rows"
    unit_axis = 1 if rows else 0
    example_axis = 1 - unit_axis
    m = X.shape[example_axis]

    Zs, As = [], [X]
    for W, b, g in zip(Ws, bs, layers, strict=True):
        Z = As[-1] @ W + b if rows else W @ As[-1] + b
        Zs.append(Z)
        As.append(g.forward(Z, unit_axis))

    losses, dA = LOSSES[case["loss"]](As[-1], Y, unit_axis)
    J = np.sum(losses)
    if case["reduction"] == "mean":
        J = J / m
        dA = dA / m

    result = {"loss": float(J)}
    for l in reversed(range(n_layers)):
        dZ = layers[l].backward(Zs[l], As[l + 1], dA, unit_axis)
        A_prev, W = As[l], Ws[l]
        if rows:
            dW, dA = A_prev.T @ dZ, dZ @ W.T
        else:
            dW, dA = dZ @ A_prev.T, W.T @ dZ
        result[f"dZ{l + 1}"] = dZ
        result[f"dW{l + 1}"] = dW
        result[f"db{l + 1}"] = np.sum(dZ, axis=example_axis, keepdims=True)
    result["dA0"] = dA
    return result


def backprop(case, params, X, Y):
    """Loss and gradients of a fully connected network by the general chain rule.

    Parameters
    ----------
    case : dict
        ``sizes`` ``[n0, ..., nL]``, ``activations`` ``[g1, ..., gL]``,
        ``loss``, ``layout``, ``dtype`` and ``reduction``.
    params : dict of ndarray
        ``W{l}``: ``(n_{l-1}, n_l)`` for rows, ``(n_l, n_{l-1})`` for columns;
        ``b{l}``: ``(1, n_l)`` for rows, ``(n_l, 1)`` for columns.
    X : ndarray
        ``(m, n0)`` for rows, ``(n0, m)`` for columns.
    Y : ndarray
        Targets shaped like ``A_L``: ``(m, nL)`` or ``(nL, m)``.

    Returns
    -------
    dict
        ``"loss"`` (float); ``"dW{l}"``, ``"db{l}"``, ``"dZ{l}"`` for every
        layer and ``"dA0"``, each shaped like its forward tensor and in the
        case's dtype.
    """
    return run(case, params, X, Y)

"""Backprop one example at a time (Bryce style).

Style shown
-----------
Every example is pushed through the network on its own as plain 1-D vectors:
``z_l = M_l a_{l-1} + c_l`` with ``M_l`` of shape ``(n_l, n_{l-1})``. Each
activation contributes its Jacobian matrix ``dg/dz`` explicitly (a diagonal
matrix for elementwise activations, ``diag(s) - s s^T`` for softmax), and the
per-example delta is propagated with ``delta_{l-1} = J_{l-1}^T M_l^T delta_l``.
The weight and bias gradients are accumulated as sums of outer products over
the batch and scaled by ``1/m`` for the ``"mean"`` reduction. Only at the end
are the results arranged in the case's layout.

Running it against the suite
----------------------------
From the repository root::

    pytest -m crosscheck --sut=examples/suts/per_example_loop.py:backprop
"""

import numpy as np
from scipy.special import erf, expit

__all__ = ["backprop"]

_SQRT2 = 2.0 ** 0.5
_INV_SQRT_2PI = (2.0 * np.pi) ** -0.5
_LEAKY_SLOPE = 0.01


# ---------------------------------------------------------------------------
# Activations on one example: value g(z) and Jacobian dg/dz, both from z.
# ---------------------------------------------------------------------------

def _softmax(z):
    e = np.exp(z - z.max())
    return e / e.sum()


def _diag_jacobian(derivative):
    def jacobian(z):
        return np.diag(derivative(z))
    return jacobian


def _softmax_jacobian(z):
    s = _softmax(z)
    return np.diag(s) - np.outer(s, s)


def _gelu_derivative(z):
    cdf = 0.5 * (1.0 + erf(z / _SQRT2))
    pdf = _INV_SQRT_2PI * np.exp(-0.5 * z * z)
    return cdf + z * pdf


_ACTIVATIONS = {
    "identity": (lambda z: z.copy(),
                 _diag_jacobian(lambda z: np.ones_like(z))),
    "sigmoid": (expit,
                _diag_jacobian(lambda z: expit(z) * expit(-z))),
    "tanh": (np.tanh,
             _diag_jacobian(lambda z: 1.0 - np.tanh(z) ** 2)),
    "relu": (lambda z: np.maximum(z, 0.0),
             _diag_jacobian(lambda z: (z > 0).astype(z.dtype))),
    "leaky_relu": (lambda z: np.where(z >= 0, z, _LEAKY_SLOPE * z),
                   # derivative 1 at z == 0, as the contract fixes it
                   _diag_jacobian(lambda z: np.where(z >= 0, 1.0, _LEAKY_SLOPE).astype(z.dtype))),
    "elu": (lambda z: np.where(z > 0, z, np.expm1(np.minimum(z, 0.0))),
            _diag_jacobian(lambda z: np.where(z > 0, 1.0, np.exp(np.minimum(z, 0.0))).astype(z.dtype))),
    "softplus": (lambda z: np.logaddexp(0.0, z),
                 _diag_jacobian(expit)),
    "silu": (lambda z: z * expit(z),
             _diag_jacobian(lambda z: expit(z) * (1.0 + z * expit(-z)))),
    "gelu": (lambda z: 0.5 * z * (1.0 + erf(z / _SQRT2)),
             _diag_jacobian(_gelu_derivative)),
    "softmax": (_softmax, _softmax_jacobian),
}


# ---------------------------------------------------------------------------
# Per-example losses: value L(a, y) and gradient dL/da for 1-D vectors.
# ---------------------------------------------------------------------------

def _sse(a, y):
    r = a - y
    return np.sum(r * r), 2.0 * r


def _half_sse(a, y):
    r = a - y
    return 0.5 * np.sum(r * r), r


def _mse(a, y):
    r = a - y
    k = a.shape[0]
    return np.sum(r * r) / k, (2.0 / k) * r


def _bce(a, y):
    loss = -np.sum(y * np.log(a) + (1.0 - y) * np.log1p(-a))
    return loss, (1.0 - y) / (1.0 - a) - y / a


def _cross_entropy(a, y):
    return -np.sum(y * np.log(a)), -y / a


def _softmax_cross_entropy(a, y):
    shifted = a - a.max()
    log_probs = shifted - np.log(np.sum(np.exp(shifted)))
    # y need not sum to one for the gradient formula to hold
    return -np.sum(y * log_probs), np.exp(log_probs) * np.sum(y) - y


def _bce_with_logits(a, y):
    # max(a, 0) - a y + log(1 + e^-|a|) is the overflow-free form of the loss
    loss = np.sum(np.maximum(a, 0.0) - a * y + np.log1p(np.exp(-np.abs(a))))
    return loss, expit(a) - y


def _hinge(a, y):
    c = int(np.argmax(y))
    margins = a - a[c] + 1.0
    margins[c] = 0.0
    loss = np.sum(np.maximum(margins, 0.0))
    # max(0, x) has derivative 0 at x == 0, so only strictly positive margins count
    grad = (margins > 0).astype(a.dtype)
    grad[c] = -np.sum(grad)
    return loss, grad


_LOSSES = {
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


def _check(kind, name, valid):
    if name not in valid:
        raise ValueError(f"unknown {kind} {name!r}; valid names: {', '.join(sorted(valid))}")


# ---------------------------------------------------------------------------
# The plug-in entry point.
# ---------------------------------------------------------------------------

def backprop(case, params, X, Y):
    """Loss and gradients of a fully connected network, one example at a time.

    Parameters
    ----------
    case : dict
        ``sizes`` ``[n0, ..., nL]``, ``activations`` ``[g1, ..., gL]``,
        ``loss``, ``layout`` (``"rows"``/``"columns"``), ``dtype``
        (``"float32"``/``"float64"``) and ``reduction`` (``"mean"``/``"sum"``).
    params : dict of ndarray
        ``W{l}`` of shape ``(n_{l-1}, n_l)`` (rows) or ``(n_l, n_{l-1})``
        (columns); ``b{l}`` of shape ``(1, n_l)`` (rows) or ``(n_l, 1)``
        (columns).
    X : ndarray
        Inputs, ``(m, n0)`` (rows) or ``(n0, m)`` (columns).
    Y : ndarray
        Targets with the shape of ``A_L``: ``(m, nL)`` or ``(nL, m)``.

    Returns
    -------
    dict
        ``"loss"`` (float), and for each layer ``l`` ``"dW{l}"``, ``"db{l}"``,
        ``"dZ{l}"`` shaped like ``W{l}``, ``b{l}`` and ``Z{l}``, plus
        ``"dA0"`` shaped like ``X``; all in the case's dtype.
    """
    layout = case["layout"]
    _check("layout", layout, _LAYOUTS)
    _check("dtype", case["dtype"], _DTYPES)
    _check("reduction", case["reduction"], _REDUCTIONS)
    _check("loss", case["loss"], _LOSSES)
    for name in case["activations"]:
        _check("activation", name, _ACTIVATIONS)

    dtype = np.dtype(case["dtype"])
    n_layers = len(case["sizes"]) - 1
    activations = [_ACTIVATIONS[name] for name in case["activations"]]
    loss_fn = _LOSSES[case["loss"]]

    # Work with z = M a + c on 1-D vectors; M is W as given for columns and
    # W^T for rows, and the example vectors are the rows or columns of X, Y.
    rows = layout == "rows"
    M = []
    c = []
    for l in range(1, n_layers + 1):
        W = np.asarray(params[f"W{l}"], dtype=dtype)
        b = np.asarray(params[f"b{l}"], dtype=dtype)
        M.append(W.T if rows else W)
        c.append(b.reshape(-1))
    X = np.asarray(X, dtype=dtype)
    Y = np.asarray(Y, dtype=dtype)
    xs = X if rows else X.T
    ys = Y if rows else Y.T
    m = xs.shape[0]
    scale = 1.0 / m if case["reduction"] == "mean" else 1.0

    total_loss = dtype.type(0.0)
    dM = [np.zeros_like(Ml) for Ml in M]
    dc = [np.zeros_like(cl) for cl in c]
    deltas = [np.zeros((m, Ml.shape[0]), dtype=dtype) for Ml in M]  # dZ, one row per example
    dx = np.zeros_like(xs)

    for i in range(m):
        a = xs[i]
        zs, a_s = [], [a]
        for (g, _), Ml, cl in zip(activations, M, c, strict=True):
            z = Ml @ a + cl
            a = g(z)
            zs.append(z)
            a_s.append(a)

        loss_i, grad_a = loss_fn(a, ys[i])
        total_loss += loss_i
        da = scale * grad_a  # dJ/da_L for this example

        for l in reversed(range(n_layers)):
            _, jacobian = activations[l]
            delta = jacobian(zs[l]).T @ da
            deltas[l][i] = delta
            dM[l] += np.outer(delta, a_s[l])
            dc[l] += delta
            da = M[l].T @ delta
        dx[i] = da

    result = {"loss": float(total_loss * scale)}
    for l in range(n_layers):
        k = l + 1
        if rows:
            result[f"dW{k}"] = dM[l].T.copy()
            result[f"db{k}"] = dc[l].reshape(1, -1)
            result[f"dZ{k}"] = deltas[l]
        else:
            result[f"dW{k}"] = dM[l]
            result[f"db{k}"] = dc[l].reshape(-1, 1)
            result[f"dZ{k}"] = deltas[l].T.copy()
    result["dA0"] = dx if rows else dx.T.copy()
    return result

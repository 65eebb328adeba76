"""Vectorised backprop with examples as columns (Andrew Ng style).

Style shown
-----------
The whole batch moves at once as matrices whose columns are examples:
``Z[l] = W[l] @ A[l-1] + b[l]``, and going back

    dZ[l]   = dA[l] * g'(Z[l])
    dW[l]   = dZ[l] @ A[l-1].T          (1/m already folded into dZ)
    db[l]   = sum(dZ[l], axis=1, keepdims=True)
    dA[l-1] = W[l].T @ dZ[l]

As in the course notebooks, the output layer uses the familiar fused
shortcut ``dZ[L] = A[L] - Y`` for sigmoid + bce and for softmax + one-hot
cross_entropy; every other pairing goes through ``dA[L]`` and ``g'``.
The ``"rows"`` layout is handled by transposing X, Y and the parameters in
and every gradient back out, so the core only ever sees columns.

Running it against the suite
----------------------------
From the repository root::

    pytest -m crosscheck --sut=examples/suts/ng_columns.py:backprop
"""

import math

import numpy as np
from scipy.special import erf, expit

__all__ = ["backprop"]


# ---------------------------------------------------------------------------
# Activations: forward g(Z) and backward dZ = dA * g'(Z) on (n, m) matrices.
# Softmax normalises over axis 0, the units of each example column.
# ---------------------------------------------------------------------------

def _softmax(Z):
    E = np.exp(Z - Z.max(axis=0, keepdims=True))
    return E / E.sum(axis=0, keepdims=True)


def _forward(name, Z):
    if name == "identity":
        return Z.copy()
    if name == "sigmoid":
        return expit(Z)
    if name == "tanh":
        return np.tanh(Z)
    if name == "relu":
        return np.maximum(0.0, Z)
    if name == "leaky_relu":
        return np.where(Z >= 0, Z, 0.01 * Z)
    if name == "elu":
        return np.where(Z > 0, Z, np.expm1(np.minimum(Z, 0.0)))
    if name == "softplus":
        return np.logaddexp(0.0, Z)
    if name == "silu":
        return Z * expit(Z)
    if name == "gelu":
        return 0.5 * Z * (1.0 + erf(Z / math.sqrt(2.0)))
    if name == "softmax":
        return _softmax(Z)
    raise ValueError(f"unknown activation {name!r}; valid names: {', '.join(ACTIVATIONS)}")


def _backward(name, dA, Z, A):
    if name == "identity":
        return dA.copy()
    if name == "sigmoid":
        return dA * A * (1.0 - A)
    if name == "tanh":
        return dA * (1.0 - A * A)
    if name == "relu":
        return dA * (Z > 0)
    if name == "leaky_relu":
        return np.where(Z >= 0, dA, 0.01 * dA)
    if name == "elu":
        return np.where(Z > 0, dA, dA * np.exp(np.minimum(Z, 0.0)))
    if name == "softplus":
        return dA * expit(Z)
    if name == "silu":
        s = expit(Z)
        return dA * s * (1.0 + Z * (1.0 - s))
    if name == "gelu":
        cdf = 0.5 * (1.0 + erf(Z / math.sqrt(2.0)))
        pdf = np.exp(-0.5 * Z * Z) / math.sqrt(2.0 * math.pi)
        return dA * (cdf + Z * pdf)
    if name == "softmax":
        # softmax couples the units of a column, so apply its Jacobian per column
        return A * (dA - np.sum(A * dA, axis=0, keepdims=True))
    raise ValueError(f"unknown activation {name!r}; valid names: {', '.join(ACTIVATIONS)}")


ACTIVATIONS = ("identity", "sigmoid", "tanh", "relu", "leaky_relu", "elu",
               "softplus", "silu", "gelu", "softmax")


# ---------------------------------------------------------------------------
# Losses on (K, m) matrices: per-example losses (1, m) and dL/dA (K, m).
# ---------------------------------------------------------------------------

def _loss_and_grad(name, A, Y):
    K = A.shape[0]
    if name == "sse":
        return np.sum((A - Y) ** 2, axis=0), 2.0 * (A - Y)
    if name == "half_sse":
        return 0.5 * np.sum((A - Y) ** 2, axis=0), A - Y
    if name == "mse":
        return np.sum((A - Y) ** 2, axis=0) / K, (2.0 / K) * (A - Y)
    if name == "bce":
        losses = -np.sum(Y * np.log(A) + (1.0 - Y) * np.log(1.0 - A), axis=0)
        return losses, -(Y / A) + (1.0 - Y) / (1.0 - A)
    if name == "cross_entropy":
        return -np.sum(Y * np.log(A), axis=0), -Y / A
    if name == "softmax_cross_entropy":
        shifted = A - A.max(axis=0, keepdims=True)
        log_sum = np.log(np.sum(np.exp(shifted), axis=0, keepdims=True))
        P = np.exp(shifted - log_sum)
        losses = -np.sum(Y * (shifted - log_sum), axis=0)
        return losses, P * np.sum(Y, axis=0, keepdims=True) - Y
    if name == "bce_with_logits":
        # -[y log s + (1-y) log(1-s)] = softplus(a) - y a, which never takes log(0)
        return np.sum(np.logaddexp(0.0, A) - Y * A, axis=0), expit(A) - Y
    if name == "hinge":
        m = A.shape[1]
        c = np.argmax(Y, axis=0)
        correct = A[c, np.arange(m)]
        margins = A - correct + 1.0
        margins[c, np.arange(m)] = 0.0
        # derivative of max(0, x) is taken as 0 at x == 0
        active = (margins > 0).astype(A.dtype)
        active[c, np.arange(m)] = -np.sum(active, axis=0)
        return np.sum(np.maximum(0.0, margins), axis=0), active
    raise ValueError(f"unknown loss {name!r}; valid names: {', '.join(LOSSES)}")


LOSSES = ("sse", "half_sse", "mse", "bce", "cross_entropy",
          "softmax_cross_entropy", "bce_with_logits", "hinge")


def _backprop_columns(activations, loss, reduction, W, b, X, Y):
    """Core algorithm on the columns layout.

    Parameters
    ----------
    activations : list of str
        ``[g1, ..., gL]``.
    loss, reduction : str
        Loss name and ``"mean"``/``"sum"``.
    W, b : list of ndarray
        ``W[l]`` is ``(n_l, n_{l-1})`` and ``b[l]`` is ``(n_l, 1)``, zero-based.
    X, Y : ndarray
        ``(n0, m)`` inputs and ``(nL, m)`` targets.

    Returns
    -------
    cost : numpy scalar
    grads : dict of ndarray
        ``dW{l}``, ``db{l}``, ``dZ{l}`` and ``dA0`` in the columns layout.
    """
    m = X.shape[1]
    L = len(W)
    per = 1.0 / m if reduction == "mean" else 1.0

    A_cache, Z_cache = [X], []
    A = X
    for l in range(L):
        Z = W[l] @ A + b[l]
        A = _forward(activations[l], Z)
        Z_cache.append(Z)
        A_cache.append(A)

    losses, dAL = _loss_and_grad(loss, A, Y)
    cost = np.sum(losses) * per

    grads = {}
    out = activations[-1]
    if (out, loss) in (("sigmoid", "bce"), ("softmax", "cross_entropy")):
        # A - Y relies on sum_k y_k = 1 for softmax, which one-hot targets guarantee
        dZ = (A - Y) * per
    else:
        dZ = _backward(out, dAL * per, Z_cache[-1], A)

    for l in reversed(range(L)):
        grads[f"dZ{l + 1}"] = dZ
        grads[f"dW{l + 1}"] = dZ @ A_cache[l].T
        grads[f"db{l + 1}"] = np.sum(dZ, axis=1, keepdims=True)
        dA_prev = W[l].T @ dZ
        if l > 0:
            dZ = _backward(activations[l - 1], dA_prev, Z_cache[l - 1], A_cache[l])
    grads["dA0"] = dA_prev
    return cost, grads


def backprop(case, params, X, Y):
    """Loss and gradients of a fully connected network, examples as columns.

    Parameters
    ----------
    case : dict
        ``sizes``, ``activations``, ``loss``, ``layout``, ``dtype`` and
        ``reduction`` as in the plug-in contract.
    params : dict of ndarray
        ``W{l}``, ``b{l}``: ``(n_l, n_{l-1})``, ``(n_l, 1)`` for columns, or
        ``(n_{l-1}, n_l)``, ``(1, n_l)`` for rows.
    X : ndarray
        ``(n0, m)`` for columns, ``(m, n0)`` for rows.
    Y : ndarray
        Shaped like ``A_L``: ``(nL, m)`` for columns, ``(m, nL)`` for rows.

    Returns
    -------
    dict
        ``"loss"`` (float) and ``"dW{l}"``, ``"db{l}"``, ``"dZ{l}"``,
        ``"dA0"``, each shaped like its forward tensor in the case's layout
        and carrying the case's dtype.
    """
    layout = case["layout"]
    if layout not in ("rows", "columns"):
        raise ValueError(f"unknown layout {layout!r}; valid names: columns, rows")
    if case["dtype"] not in ("float32", "float64"):
        raise ValueError(f"unknown dtype {case['dtype']!r}; valid names: float32, float64")
    if case["reduction"] not in ("mean", "sum"):
        raise ValueError(f"unknown reduction {case['reduction']!r}; valid names: mean, sum")
    if case["loss"] not in LOSSES:
        raise ValueError(f"unknown loss {case['loss']!r}; valid names: {', '.join(LOSSES)}")
    for name in case["activations"]:
        if name not in ACTIVATIONS:
            raise ValueError(f"unknown activation {name!r}; valid names: {', '.join(ACTIVATIONS)}")

    dtype = np.dtype(case["dtype"])
    L = len(case["sizes"]) - 1
    W = [np.asarray(params[f"W{l}"], dtype=dtype) for l in range(1, L + 1)]
    b = [np.asarray(params[f"b{l}"], dtype=dtype) for l in range(1, L + 1)]
    X = np.asarray(X, dtype=dtype)
    Y = np.asarray(Y, dtype=dtype)

    rows = layout == "rows"
    if rows:
        # rows layout: transpose everything into columns on the way in ...
        W = [Wl.T for Wl in W]
        b = [bl.T for bl in b]
        X, Y = X.T, Y.T

    cost, grads = _backprop_columns(case["activations"], case["loss"], case["reduction"],
                                    W, b, X, Y)

    if rows:
        # ... and every gradient back into rows on the way out
        grads = {key: np.ascontiguousarray(g.T) for key, g in grads.items()}
    grads["loss"] = float(cost)
    return grads

"""A minimal multilayer perceptron with hand-written backpropagation.

Notation follows the derivations: for layer l = 1..L,

    rows layout     Z_l = A_{l-1} W_l + b_l      X: (m, n0), W_l: (n_{l-1}, n_l), b_l: (1, n_l)
    columns layout  Z_l = W_l A_{l-1} + b_l      X: (n0, m), W_l: (n_l, n_{l-1}), b_l: (n_l, 1)
    A_l = g_l(Z_l),  A_0 = X,  J = r * sum_i loss_i  with r = 1/m (mean) or 1 (sum)

and the backward pass, from dA_L = r * dloss/dA_L down to layer 1:

    dZ_l = dA_l ⊙ g_l'(Z_l)            (softmax: dZ_l = A_l ⊙ (dA_l − Σ_k A_l,k dA_l,k))
    rows:     dW_l = A_{l-1}ᵀ dZ_l,  db_l = Σ_examples dZ_l,  dA_{l-1} = dZ_l W_lᵀ
    columns:  dW_l = dZ_l A_{l-1}ᵀ,  db_l = Σ_examples dZ_l,  dA_{l-1} = W_lᵀ dZ_l

Two fused shortcuts skip dA_L where they hold: softmax + cross_entropy and sigmoid + bce both give
dZ_L = r (A_L − Y).
"""

import numpy as np

from reference_impl import activations, losses

LAYOUTS = ("rows", "columns")
REDUCTIONS = ("mean", "sum")
DTYPES = ("float64", "float32")
FUSED = {("softmax", "cross_entropy"), ("sigmoid", "bce")}


class Layout:
    """Where the examples and the units live, and how a layer multiplies."""

    def __init__(self, name):
        if name not in LAYOUTS:
            raise ValueError(f"unknown layout {name!r}; valid: {', '.join(LAYOUTS)}")
        self.name = name
        self.units = 1 if name == "rows" else 0      # axis that indexes units
        self.examples = 1 - self.units               # axis that indexes examples

    def linear(self, A_prev, W, b):
        return A_prev @ W + b if self.name == "rows" else W @ A_prev + b

    def weight_grad(self, A_prev, dZ):
        return A_prev.T @ dZ if self.name == "rows" else dZ @ A_prev.T

    def input_grad(self, W, dZ):
        return dZ @ W.T if self.name == "rows" else W.T @ dZ


def _check_shape(name, array, expected):
    if array.shape != expected:
        raise ValueError(f"{name} has shape {array.shape}, expected {expected}")


def _check_inputs(case, layout, params, X, Y):
    sizes = case["sizes"]
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D, got shape {X.shape}")
    if len(case["activations"]) != len(sizes) - 1:
        raise ValueError(f"activations has {len(case['activations'])} names for {len(sizes) - 1} layers")
    m = X.shape[layout.examples]
    _check_shape("X", X, (m, sizes[0]) if layout.name == "rows" else (sizes[0], m))
    _check_shape("Y", Y, (m, sizes[-1]) if layout.name == "rows" else (sizes[-1], m))
    for l in range(1, len(sizes)):
        for name in (f"W{l}", f"b{l}"):
            if name not in params:
                raise KeyError(f"params is missing {name!r}")
        rows_shapes = {f"W{l}": (sizes[l - 1], sizes[l]), f"b{l}": (1, sizes[l])}
        for name, shape in rows_shapes.items():
            _check_shape(name, params[name], shape if layout.name == "rows" else shape[::-1])
    expected = {f"{t}{l}" for l in range(1, len(sizes)) for t in "Wb"}
    if set(params) - expected:
        raise KeyError(f"params has unexpected keys {sorted(set(params) - expected)} for {len(sizes) - 1} layers")
    return m


def forward(case, params, X):
    """Return the caches Z[l] and A[l] (A[0] = X), computed in X's dtype."""
    layout = Layout(case["layout"])
    A, Z = [X], [None]
    for l, name in enumerate(case["activations"], start=1):
        Z.append(layout.linear(A[-1], params[f"W{l}"], params[f"b{l}"]))
        g, _ = activations.get(name)
        A.append(activations.softmax(Z[l], layout.units) if name == "softmax" else g(Z[l]))
    return Z, A


def backward(case, params, Y, Z, A, fused=True):
    """Return dW{l}, db{l}, dZ{l} for every layer and dA0, from the forward caches."""
    layout = Layout(case["layout"])
    L = len(case["activations"])
    m = A[0].shape[layout.examples]
    r = 1 / m if case["reduction"] == "mean" else 1
    _, dloss = losses.get(case["loss"])
    grads = {}
    dA = None
    for l in range(L, 0, -1):
        name = case["activations"][l - 1]
        if l == L and fused and (name, case["loss"]) in FUSED:
            dZ = r * (A[L] - Y)
        else:
            if l == L:
                dA = r * dloss(A[L], Y, layout.units)
            if name == "softmax":
                dZ = activations.softmax_backward(dA, A[l], layout.units)
            else:
                _, g_prime = activations.get(name)
                dZ = dA * g_prime(Z[l], A[l])
        grads[f"dZ{l}"] = dZ
        grads[f"dW{l}"] = layout.weight_grad(A[l - 1], dZ)
        grads[f"db{l}"] = dZ.sum(axis=layout.examples, keepdims=True)
        dA = layout.input_grad(params[f"W{l}"], dZ)
    grads["dA0"] = dA
    return grads


def backprop(case, params, X, Y, fused=True):
    """The plug-in contract: loss and every gradient, in the case's layout and dtype.

    Parameters
    ----------
    case : dict with sizes, activations, loss, layout, dtype, reduction (docs/contract.md)
    params : dict of W1..WL, b1..bL
    X, Y : inputs (m, n0) and targets (m, nL) in rows layout; transposed in columns layout
    fused : use the fused shortcuts for softmax + cross_entropy and sigmoid + bce
    """
    if case["reduction"] not in REDUCTIONS:
        raise ValueError(f"unknown reduction {case['reduction']!r}; valid: {', '.join(REDUCTIONS)}")
    if case["dtype"] not in DTYPES:
        raise ValueError(f"unknown dtype {case['dtype']!r}; valid: {', '.join(DTYPES)}")
    layout = Layout(case["layout"])
    loss_fn, _ = losses.get(case["loss"])
    dtype = np.dtype(case["dtype"])
    m = _check_inputs(case, layout, params, X, Y)
    X, Y = X.astype(dtype, copy=False), Y.astype(dtype, copy=False)
    params = {k: v.astype(dtype, copy=False) for k, v in params.items()}
    Z, A = forward(case, params, X)
    per_example = loss_fn(A[-1], Y, layout.units)
    J = per_example.sum() / (m if case["reduction"] == "mean" else 1)
    grads = backward(case, params, Y, Z, A, fused=fused)
    return {"loss": float(J), **grads}


def sgd_step(params, grads, lr):
    """One step of plain gradient descent: W ← W − lr dW, b ← b − lr db (returns new arrays)."""
    return {name: value - lr * grads[f"d{name}"] for name, value in params.items()}

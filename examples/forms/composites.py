"""Three correct implementations, each built from one alternative form of every formula.

``backprop_a``, ``backprop_b`` and ``backprop_c`` follow the contract (docs/contract.md); between
them every form in ``examples/forms/catalogue.py`` is used, so a case that touches a formula
exercises one of its forms in each composite. They also place the mean differently and form dW and
db differently:

    composite  mean (1/m) applied at          dW, db                         dA_{l-1}         fused shortcuts
    A          dA_L = loss'(A_L) / m          one outer product per example  dZ Wᵀ / Wᵀ dZ    (1/m) A - (1/m) Y
    B          dZ_L = dA_L ⊙ g'(Z_L) / m      einsum                         einsum           (A - Y) / m
    C          dW, db (and dZ) of each layer  products with a ones vector    (W dZᵀ)ᵀ, (dZᵀ W)ᵀ  none: the general chain

(the fused shortcuts are taken for softmax + cross_entropy and sigmoid + bce; composite C takes
those through the softmax Jacobian and through bce' and sigmoid').

Composite B uses the forms that evaluate an unguarded e^z (the unshifted softmax, e^z / (1 + e^z),
log(1 + e^z), ...); they overflow at scale "large", so it declares ``supports['scales']``.

    pytest -m crosscheck --sut=examples.forms.composites:backprop_b
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from examples.forms.catalogue import ACTIVATIONS, FUSED, LOSSES, SOFTMAX, WEIGHT_GRADIENTS

__all__ = ["Composite", "COMPOSITES", "backprop_a", "backprop_b", "backprop_c"]


@dataclass(frozen=True)
class Composite:
    """One choice of form for every formula, and where the mean and the products go."""

    name: str
    activations: dict[str, tuple[str, str]]
    """name -> (value form, derivative form); softmax: (value form, backward form)."""
    losses: dict[str, tuple[str, str]]
    """name -> (value form, gradient form)."""
    fused: dict[tuple[str, str], str]
    """(output activation, loss) -> fused form of dZ_L; pairs not listed take the general chain."""
    mean_at: str
    """'dA': dA_L = loss' / m;  'dZ': dZ_L = (loss' ⊙ g') / m;  'dW': every dW, db and dZ divided by m."""
    weight_gradients: str
    """A key of ``WEIGHT_GRADIENTS``."""
    input_gradient: str
    """'matmul', 'einsum' or 'transposed': how dA_{l-1} is formed from dZ_l and W_l."""
    scales: tuple[str, ...] = ("small", "unit", "large")

    def backprop(self, case, params, X, Y):
        return network(case, params, X, Y, self)


def _input_gradient(W, dZ, rows, how):
    if how == "einsum":
        return np.einsum("ik,jk->ij", dZ, W) if rows else np.einsum("kj,ki->ji", W, dZ)
    if how == "transposed":
        return (W @ dZ.T).T if rows else (dZ.T @ W).T
    return dZ @ W.T if rows else W.T @ dZ


def network(case, params, X, Y, choice: Composite):
    """Loss and gradients of a fully connected network, every formula in the forms ``choice`` names.

    Shapes as the contract: rows layout Z_l = A_{l-1} W_l + b_l, columns layout Z_l = W_l A_{l-1} + b_l.
    """
    rows = case["layout"] == "rows"
    axis = 1 if rows else 0  # the units of one example
    dtype = np.dtype(case["dtype"])
    X, Y = np.asarray(X, dtype), np.asarray(Y, dtype)
    names = case["activations"]
    L = len(names)
    W = {l: np.asarray(params[f"W{l}"], dtype) for l in range(1, L + 1)}
    b = {l: np.asarray(params[f"b{l}"], dtype) for l in range(1, L + 1)}
    m = X.shape[1 - axis]
    d = m if case["reduction"] == "mean" else 1

    def forms(name):
        value, derivative = choice.activations[name]
        table = SOFTMAX if name == "softmax" else ACTIVATIONS[name]
        return table["value"][value].fn, table["backward" if name == "softmax" else "derivative"][derivative].fn

    Z, A = {}, {0: X}
    for l in range(1, L + 1):
        Z[l] = A[l - 1] @ W[l] + b[l] if rows else W[l] @ A[l - 1] + b[l]
        g, _ = forms(names[l - 1])
        A[l] = g(Z[l], axis) if names[l - 1] == "softmax" else g(Z[l])

    loss_value, loss_gradient = (LOSSES[case["loss"]][kind][form].fn
                                 for kind, form in zip(("value", "gradient"), choice.losses[case["loss"]], strict=True))
    J = loss_value(A[L], Y, axis).sum() / d

    out = {"loss": float(J)}
    pair = (names[-1], case["loss"])
    later = d if choice.mean_at == "dW" else 1  # the mean still to apply to each layer's outputs
    dA = None
    for l in range(L, 0, -1):
        name = names[l - 1]
        _, g_prime = forms(name)
        if l == L and pair in choice.fused:
            dZ = FUSED[pair][choice.fused[pair]].fn(A[L], Y, 1 if choice.mean_at == "dW" else d)
        else:
            if l == L:
                dA = loss_gradient(A[L], Y, axis)
                if choice.mean_at == "dA":
                    dA = dA / d
            dZ = g_prime(A[l], dA, axis) if name == "softmax" else dA * g_prime(Z[l], A[l])
            if l == L and choice.mean_at == "dZ":
                dZ = dZ / d
        dW, db = WEIGHT_GRADIENTS[choice.weight_gradients](A[l - 1], dZ, rows)
        out[f"dW{l}"], out[f"db{l}"], out[f"dZ{l}"] = dW / later, db / later, dZ / later
        dA = _input_gradient(W[l], dZ, rows, choice.input_gradient)
    out["dA0"] = dA / later
    return out


COMPOSITES = {
    c.name: c
    for c in [
        Composite(
            "A",
            activations={
                "identity": ("1 z", "full(1)"),
                "sigmoid": ("(1 + tanh(z/2)) / 2", "σ(z) σ(-z)"),
                "tanh": ("1 - 2 / (e^2z + 1)", "1 / cosh^2 z"),
                "relu": ("z [z > 0]", "heaviside(z, 0)"),
                "leaky_relu": ("max(z, 0.01 z)", "0.01 + 0.99 [z >= 0]"),
                "elu": ("e^z - 1 (z <= 0)", "e^min(z, 0)"),
                "softplus": ("max(z, 0) + log1p(e^-|z|)", "(1 + tanh(z/2)) / 2"),
                "silu": ("z / (1 + e^-z)", "σ(z) (1 + z σ(-z))"),
                "gelu": ("z erfc(-z/√2) / 2", "erfc(-z/√2) / 2 + z φ(z)"),
                "softmax": ("exp(z - logsumexp z)", "(diag(a) - a aᵀ) da"),
            },
            losses={name: tuple(list(forms[kind])[0] for kind in ("value", "gradient"))
                    for name, forms in LOSSES.items()},
            fused={pair: "(1/d) A - (1/d) Y" for pair in FUSED},
            mean_at="dA", weight_gradients="per-example loop", input_gradient="matmul",
        ),
        Composite(
            "B",
            activations={
                "identity": ("z + 0", "[z = z]"),
                "sigmoid": ("e^z / (1 + e^z)", "e^-z / (1 + e^-z)^2"),
                "tanh": ("(e^z - e^-z) / (e^z + e^-z)", "4 / (e^z + e^-z)^2"),
                "relu": ("(z + |z|) / 2", "[A > 0]"),
                "leaky_relu": ("0.01 z + 0.99 max(z, 0)", "1 if A >= 0 else 0.01"),
                "elu": ("max(z, 0) + expm1(min(z, 0))", "expm1(min(z, 0)) + 1"),
                "softplus": ("log(1 + e^z)", "e^z / (1 + e^z)"),
                "silu": ("z e^z / (1 + e^z)", "(1 + e^-z + z e^-z) / (1 + e^-z)^2"),
                "gelu": ("z/2 + z erf(z/√2) / 2", "ndtr(z) + z e^(-z²/2) / √(2π)"),
                "softmax": ("e^z / Σ e^z (no shift)", "a da - a <a, da>"),
            },
            losses={name: tuple(list(forms[kind])[1] for kind in ("value", "gradient"))
                    for name, forms in LOSSES.items()},
            fused={pair: "(A - Y) / d" for pair in FUSED},
            mean_at="dZ", weight_gradients="einsum", input_gradient="einsum",
            scales=("small", "unit"),
        ),
        Composite(
            "C",
            activations={
                "identity": ("1 z", "[z = z]"),
                "sigmoid": ("1 / (1 + e^-z)", "1 / (e^z + 2 + e^-z)"),
                "tanh": ("2 / (1 + e^-2z) - 1", "(1 - A)(1 + A)"),
                "relu": ("clip(z, 0)", "sign(A)"),
                "leaky_relu": ("z (1 if z >= 0 else 0.01)", "1 - 0.99 [z < 0]"),
                "elu": ("e^z - 1 (z <= 0)", "min(A, 0) + 1"),
                "softplus": ("max(z, 0) + log(1 + e^-|z|)", "e^(z - A)"),
                "silu": ("z (1 + tanh(z/2)) / 2", "σ + A (1 - σ)"),
                "gelu": ("z ndtr(z)", "1 - erfc(z/√2) / 2 + z φ(z)"),
                "softmax": ("per example: e^(z - max) (1 / Σ)", "per example: (diag(a) - outer(a, a)) @ da"),
            },
            losses={name: tuple(list(forms[kind])[-1] for kind in ("value", "gradient"))
                    for name, forms in LOSSES.items()},
            fused={},  # the general chain, softmax + cross_entropy through the softmax Jacobian
            mean_at="dW", weight_gradients="products with a ones vector", input_gradient="transposed",
        ),
    ]
}


def _sut(choice: Composite):
    def backprop(case, params, X, Y):
        return network(case, params, X, Y, choice)
    backprop.__name__ = backprop.__qualname__ = f"backprop_{choice.name.lower()}"
    backprop.__doc__ = f"The contract's backprop, composite {choice.name} (see the module docstring)."
    backprop.supports = {"scales": list(choice.scales)}
    return backprop


backprop_a = _sut(COMPOSITES["A"])
backprop_b = _sut(COMPOSITES["B"])
backprop_c = _sut(COMPOSITES["C"])

"""A correct hand-written backprop, written as a class whose steps a mutant can override.

Each method is one step of the derivation, so a mutant changes exactly one formula, the way a
person gets one formula wrong. This class is not the reference implementation: it is a separate,
plain implementation in the general-chain style (fused shortcuts only where a subclass asks).
"""

import math

import numpy as np
from scipy.special import erf

LAYOUTS = ("rows", "columns")


def sigmoid(z):
    return 0.5 * (1 + np.tanh(0.5 * z))


class Backprop:
    fused = False
    """Use dZ_L = r (A_L - Y) for softmax + cross_entropy and sigmoid + bce."""

    # --- activations: g(Z) and g'(Z, A) -------------------------------------------------------
    def act(self, name, Z, axis):
        if name == "identity":
            return Z
        if name == "sigmoid":
            return sigmoid(Z)
        if name == "tanh":
            return np.tanh(Z)
        if name == "relu":
            return np.maximum(Z, 0)
        if name == "leaky_relu":
            return np.where(Z >= 0, Z, 0.01 * Z)
        if name == "elu":
            return np.where(Z > 0, Z, np.expm1(np.minimum(Z, 0)))
        if name == "softplus":
            return np.logaddexp(0, Z)
        if name == "silu":
            return Z * sigmoid(Z)
        if name == "gelu":
            return 0.5 * Z * (1 + erf(Z / math.sqrt(2)))
        if name == "softmax":
            e = np.exp(Z - Z.max(axis=axis, keepdims=True))
            return e / e.sum(axis=axis, keepdims=True)
        raise ValueError(f"unknown activation {name!r}")

    def act_prime(self, name, Z, A):
        """g'(Z) for elementwise activations."""
        one = np.ones_like(Z)
        return {
            "identity": lambda: one,
            "sigmoid": lambda: A * (1 - A),
            "tanh": lambda: 1 - A * A,
            "relu": lambda: (Z > 0) * one,
            "leaky_relu": lambda: np.where(Z >= 0, one, 0.01 * one),
            "elu": lambda: np.where(Z > 0, one, A + 1),
            "softplus": lambda: sigmoid(Z),
            "silu": lambda: sigmoid(Z) * (1 + Z * (1 - sigmoid(Z))),
            "gelu": lambda: 0.5 * (1 + erf(Z / math.sqrt(2))) + Z * np.exp(-0.5 * Z * Z) / math.sqrt(2 * math.pi),
        }[name]()

    def softmax_backward(self, dA, A, axis):
        return A * (dA - (A * dA).sum(axis=axis, keepdims=True))

    # --- losses: per-example loss and dloss/dA ---------------------------------------------------
    def loss(self, name, A, Y, axis):
        K = A.shape[axis]
        if name == "sse":
            return ((A - Y) ** 2).sum(axis)
        if name == "half_sse":
            return 0.5 * ((A - Y) ** 2).sum(axis)
        if name == "mse":
            return ((A - Y) ** 2).sum(axis) / K
        if name == "bce":
            return -(Y * np.log(A) + (1 - Y) * np.log(1 - A)).sum(axis)
        if name == "cross_entropy":
            return -(Y * np.log(A)).sum(axis)
        if name == "softmax_cross_entropy":
            shifted = A - A.max(axis=axis, keepdims=True)
            return -(Y * (shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True)))).sum(axis)
        if name == "bce_with_logits":
            return (np.logaddexp(0, A) - Y * A).sum(axis)
        if name == "hinge":
            return np.maximum(self.hinge_margins(A, Y, axis), 0).sum(axis)
        raise ValueError(f"unknown loss {name!r}")

    def hinge_margins(self, A, Y, axis):
        a_c = (A * Y).sum(axis=axis, keepdims=True)
        return np.where(Y == 1, 0, A - a_c + 1)

    def loss_grad(self, name, A, Y, axis):
        K = A.shape[axis]
        if name == "sse":
            return 2 * (A - Y)
        if name == "half_sse":
            return A - Y
        if name == "mse":
            return 2 * (A - Y) / K
        if name == "bce":
            return -Y / A + (1 - Y) / (1 - A)
        if name == "cross_entropy":
            return -Y / A
        if name == "softmax_cross_entropy":
            return self.act("softmax", A, axis) - Y
        if name == "bce_with_logits":
            return sigmoid(A) - Y
        if name == "hinge":
            active = (self.hinge_margins(A, Y, axis) > 0) * np.ones_like(A)
            return active - Y * active.sum(axis=axis, keepdims=True)
        raise ValueError(f"unknown loss {name!r}")

    # --- the backward pass ------------------------------------------------------------------------
    def scale(self, case, m):
        """r: 1/m for the mean reduction, 1 for the sum."""
        return 1 / m if case["reduction"] == "mean" else 1

    def output_delta(self, case, Z, A, Y, r, axis):
        """dZ_L."""
        name = case["activations"][-1]
        if self.fused and (name, case["loss"]) in {("softmax", "cross_entropy"), ("sigmoid", "bce")}:
            return r * (A - Y)
        dA = r * self.loss_grad(case["loss"], A, Y, axis)
        return self.hidden_delta(name, dA, Z, A, axis)

    def hidden_delta(self, name, dA, Z, A, axis):
        """dZ_l = dA_l ⊙ g'(Z_l), or softmax's Jacobian-vector product."""
        if name == "softmax":
            return self.softmax_backward(dA, A, axis)
        return dA * self.act_prime(name, Z, A)

    def weight_grad(self, rows, A_prev, dZ):
        return A_prev.T @ dZ if rows else dZ @ A_prev.T

    def bias_grad(self, rows, dZ):
        return dZ.sum(axis=0 if rows else 1, keepdims=True)

    def input_grad(self, rows, W, dW, dZ):
        """dA_{l-1}."""
        return dZ @ W.T if rows else W.T @ dZ

    def layers(self, L):
        return range(L, 0, -1)

    def finish(self, case, grads):
        return grads

    def __call__(self, case, params, X, Y):
        rows = case["layout"] == "rows"
        if case["layout"] not in LAYOUTS:
            raise ValueError(f"unknown layout {case['layout']!r}")
        axis = 1 if rows else 0
        dtype = np.dtype(case["dtype"])
        X, Y = X.astype(dtype), Y.astype(dtype)
        params = {k: v.astype(dtype) for k, v in params.items()}
        L, m = len(case["activations"]), X.shape[1 - axis]
        Zs, As = [None], [X]
        for l, name in enumerate(case["activations"], start=1):
            W, b = params[f"W{l}"], params[f"b{l}"]
            Zs.append(As[-1] @ W + b if rows else W @ As[-1] + b)
            As.append(self.act(name, Zs[l], axis))
        r = self.scale(case, m)
        J = float(self.loss(case["loss"], As[L], Y, axis).sum() * (1 / m if case["reduction"] == "mean" else 1))
        grads = {}
        for l in range(1, L + 1):
            grads[f"dZ{l}"] = np.zeros_like(Zs[l])
            grads[f"dW{l}"] = np.zeros_like(params[f"W{l}"])
            grads[f"db{l}"] = np.zeros_like(params[f"b{l}"])
        dA = None
        for l in self.layers(L):
            if l == L:
                dZ = self.output_delta(case, Zs[L], As[L], Y, r, axis)
            else:
                dZ = self.hidden_delta(case["activations"][l - 1], dA, Zs[l], As[l], axis)
            grads[f"dZ{l}"] = dZ
            grads[f"dW{l}"] = self.weight_grad(rows, As[l - 1], dZ)
            grads[f"db{l}"] = self.bias_grad(rows, dZ)
            dA = self.input_grad(rows, params[f"W{l}"], grads[f"dW{l}"], dZ)
        grads["dA0"] = dA if dA is not None and dA.shape == X.shape else np.zeros_like(X)
        return {"loss": J, **self.finish(case, grads)}


backprop = Backprop()
"""The correct base as a plug-in: ``--sut=mutants.base:backprop``."""

"""Layer functions in CS231n's style, written for this project: each forward returns (out, cache),
each backward takes (dout, cache) and returns the gradients of <dout, out> in the order of the inputs.

Shapes: x (N, d1, ..., dk) read as (N, D), w (D, M), b (M,); losses take scores x (N, C) and integer
labels y (N,) and return (loss, dx) with the mean over the N examples.
"""

import numpy as np


def affine_forward(x, w, b):
    """out = x w + b, with x reshaped to (N, D)."""
    out = x.reshape(x.shape[0], -1) @ w + b
    return out, (x, w, b)


def affine_backward(dout, cache):
    """dx = dout wᵀ (back in x's shape), dw = xᵀ dout, db = Σ_N dout."""
    x, w, b = cache
    dx = (dout @ w.T).reshape(x.shape)
    dw = x.reshape(x.shape[0], -1).T @ dout
    db = dout.sum(axis=0)
    return dx, dw, db


def relu_forward(x):
    return np.maximum(0, x), x


def relu_backward(dout, cache):
    """dx = dout where x > 0 (relu'(0) = 0)."""
    x = cache
    return dout * (x > 0)


def sigmoid_forward(x):
    """1 / (1 + e^-x), on the side that cannot overflow."""
    e = np.exp(-np.abs(x))
    out = np.where(x >= 0, 1 / (1 + e), e / (1 + e))
    return out, out


def sigmoid_backward(dout, cache):
    """dx = dout σ (1 - σ), from the forward's output."""
    s = cache
    return dout * s * (1 - s)


def softmax_loss(x, y):
    """Cross-entropy of softmax(x) with the shifted log-sum-exp; dx = (p - onehot(y)) / N."""
    shifted = x - x.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    N = x.shape[0]
    loss = -log_probs[np.arange(N), y].sum() / N
    dx = np.exp(log_probs)
    dx[np.arange(N), y] -= 1
    dx /= N
    return loss, dx


def svm_loss(x, y):
    """Multiclass hinge: Σ_{k != y} max(0, x_k - x_y + 1), the mean over N; dx its subgradient."""
    N = x.shape[0]
    correct = x[np.arange(N), y]
    margins = np.maximum(0, x - correct[:, None] + 1.0)
    margins[np.arange(N), y] = 0
    loss = margins.sum() / N
    positive = (margins > 0).astype(x.dtype)
    positive[np.arange(N), y] = -positive.sum(axis=1)
    dx = positive / N
    return loss, dx

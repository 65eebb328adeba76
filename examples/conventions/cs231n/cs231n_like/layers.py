"""Layer functions in the CS231n assignment convention.

Rows layout: a minibatch of N examples is the first axis.

    x   (N, d_1, ..., d_k)  input, flattened to (N, D) by affine_forward
    w   (D, M)              weights
    b   (M,)                biases, 1-D
    y   (N,)                integer labels, 0 <= y[i] < C

Every ``*_forward`` returns (out, cache); every ``*_backward(dout, cache)`` returns the
gradients of its inputs. The losses return (loss, dx) with the loss averaged over N
(the 1/N is inside ``dx``). Everything keeps the dtype of its inputs.
"""

import numpy as np


def affine_forward(x, w, b):
    """out = x.reshape(N, D) @ w + b; cache = (x, w, b)."""
    N = x.shape[0]
    out = x.reshape(N, -1).dot(w) + b
    cache = (x, w, b)
    return out, cache


def affine_backward(dout, cache):
    """dout (N, M) -> dx (shaped like x), dw (D, M), db (M,)."""
    x, w, b = cache
    N = x.shape[0]
    dx = dout.dot(w.T).reshape(x.shape)
    dw = x.reshape(N, -1).T.dot(dout)
    db = np.sum(dout, axis=0)
    return dx, dw, db


def relu_forward(x):
    """out = max(0, x); cache = x."""
    out = np.maximum(0, x)
    cache = x
    return out, cache


def relu_backward(dout, cache):
    """dx = dout where x > 0, 0 elsewhere (relu'(0) = 0)."""
    x = cache
    dx = dout * (x > 0)
    return dx


def dropout_forward(x, dropout_param):
    """Inverted dropout. dropout_param: "p" (the probability of keeping a unit), "mode"
    ("train" or "test") and optionally "seed". cache = (dropout_param, mask)."""
    p, mode = dropout_param["p"], dropout_param["mode"]
    if "seed" in dropout_param:
        np.random.seed(dropout_param["seed"])
    mask = None
    if mode == "train":
        mask = ((np.random.rand(*x.shape) < p) / p).astype(x.dtype, copy=False)
        out = x * mask
    else:
        out = x
    cache = (dropout_param, mask)
    return out, cache


def dropout_backward(dout, cache):
    """dx = dout * mask in train mode, dout in test mode."""
    dropout_param, mask = cache
    if dropout_param["mode"] == "train":
        return dout * mask
    return dout


def svm_loss(x, y):
    """Multiclass hinge loss: mean over i of sum_{j != y_i} max(0, x_ij - x_iy_i + 1).

    x (N, C) scores, y (N,) integer labels. Returns (loss, dx)."""
    N = x.shape[0]
    correct_class_scores = x[np.arange(N), y]
    margins = np.maximum(0, x - correct_class_scores[:, np.newaxis] + 1)
    margins[np.arange(N), y] = 0
    loss = np.sum(margins) / N
    num_pos = np.sum(margins > 0, axis=1)
    dx = np.zeros_like(x)
    dx[margins > 0] = 1
    dx[np.arange(N), y] -= num_pos
    dx /= N
    return loss, dx


def softmax_loss(x, y):
    """Softmax cross-entropy: mean over i of -log softmax(x_i)[y_i].

    x (N, C) scores, y (N,) integer labels. Shifted by the row max for stability.
    Returns (loss, dx) with dx = (softmax(x) - onehot(y)) / N."""
    N = x.shape[0]
    shifted_logits = x - np.max(x, axis=1, keepdims=True)
    Z = np.sum(np.exp(shifted_logits), axis=1, keepdims=True)
    log_probs = shifted_logits - np.log(Z)
    probs = np.exp(log_probs)
    loss = -np.sum(log_probs[np.arange(N), y]) / N
    dx = probs.copy()
    dx[np.arange(N), y] -= 1
    dx /= N
    return loss, dx

"""affine_backward's db is the first example's dout, not the sum over N."""

import numpy as np


def affine_forward(x, w, b):
    out = x.reshape(x.shape[0], -1) @ w + b
    return out, (x, w, b)


def affine_backward(dout, cache):
    x, w, b = cache
    dx = (dout @ w.T).reshape(x.shape)
    dw = x.reshape(x.shape[0], -1).T @ dout
    db = dout[0]
    return dx, dw, db


def relu_forward(x):
    return np.maximum(0, x), x


def relu_backward(dout, cache):
    return dout * (cache > 0)


def softmax_loss(x, y):
    shifted = x - x.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    N = x.shape[0]
    loss = -log_probs[np.arange(N), y].sum() / N
    dx = np.exp(log_probs)
    dx[np.arange(N), y] -= 1
    dx /= N
    return loss, dx


class FullyConnectedNet:
    """{affine - relu} x (L - 1) - affine - softmax; params W1, b1, ..., WL, bL with 1-D biases."""

    def __init__(self, hidden_dims, input_dim=3 * 32 * 32, num_classes=10, reg=0.0, weight_scale=1e-2,
                 dtype=np.float32, seed=None):
        rng = np.random.default_rng(seed)
        dims = [input_dim, *hidden_dims, num_classes]
        self.reg, self.dtype, self.num_layers = reg, dtype, len(dims) - 1
        self.params = {}
        for l in range(1, self.num_layers + 1):
            self.params[f"W{l}"] = (weight_scale * rng.standard_normal((dims[l - 1], dims[l]))).astype(dtype)
            self.params[f"b{l}"] = np.zeros(dims[l], dtype=dtype)

    def loss(self, X, y=None):
        h, caches = X.astype(self.dtype), []
        for l in range(1, self.num_layers + 1):
            h, affine_cache = affine_forward(h, self.params[f"W{l}"], self.params[f"b{l}"])
            relu_cache = None
            if l < self.num_layers:
                h, relu_cache = relu_forward(h)
            caches.append((affine_cache, relu_cache))
        if y is None:
            return h
        loss, dout = softmax_loss(h, y)
        grads = {}
        for l in range(self.num_layers, 0, -1):
            affine_cache, relu_cache = caches[l - 1]
            if relu_cache is not None:
                dout = relu_backward(dout, relu_cache)
            dout, grads[f"W{l}"], grads[f"b{l}"] = affine_backward(dout, affine_cache)
            loss += 0.5 * self.reg * np.sum(self.params[f"W{l}"] ** 2)
            grads[f"W{l}"] = grads[f"W{l}"] + self.reg * self.params[f"W{l}"]
        return loss, grads

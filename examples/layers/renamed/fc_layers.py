"""Layer functions of a small from-scratch library, written for this project: correct, but named and
ordered its own way, so checking them needs a naming file (``names.toml`` beside this file).

* ``fc_forward(x, W, b) -> (cache, out)``: the cache comes first;
* ``fc_backward(cache, grad) -> (dW, db, dx)``: the cache first, the input's gradient last;
* ``Relu.forward`` / ``Relu.backward``: static methods of a class;
* ``cross_entropy(logits, labels) -> (dlogits, loss)``: the gradient first;
* ``batch_norm(x, params, gamma, beta)``: the parameter dict before gamma and beta.
"""

import numpy as np


def fc_forward(x, W, b):
    flat = x.reshape(len(x), -1)
    return (x, W), flat @ W + b


def fc_backward(cache, grad):
    x, W = cache
    return x.reshape(len(x), -1).T @ grad, grad.sum(axis=0), (grad @ W.T).reshape(x.shape)


class Relu:
    @staticmethod
    def forward(x):
        return np.maximum(x, 0), x > 0

    @staticmethod
    def backward(grad, positive):
        return grad * positive


def cross_entropy(logits, labels):
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    n = len(logits)
    p = np.exp(log_p)
    p[np.arange(n), labels] -= 1
    return p / n, -log_p[np.arange(n), labels].mean()


def batch_norm(x, params, gamma, beta):
    mu = x.mean(axis=0)
    xc = x - mu
    inv = 1 / np.sqrt((xc * xc).mean(axis=0) + params["eps"])
    xhat = xc * inv
    return gamma * xhat + beta, (xhat, inv, gamma)


def batch_norm_backward(grad, cache):
    xhat, inv, gamma = cache
    n = len(grad)
    dgamma, dbeta = (grad * xhat).sum(axis=0), grad.sum(axis=0)
    return dbeta, dgamma, gamma * inv / n * (n * grad - dbeta - xhat * dgamma)

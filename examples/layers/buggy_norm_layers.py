"""cs231n_layers.py with classic family-2 bugs: batchnorm_backward forgetting the mean term (the
path through μ), layernorm normalizing over the batch axis instead of each example's features, and
dropout_backward masking without the 1/p. Everything else is the correct module's."""

import numpy as np

from .cs231n_layers import *  # noqa: F403


def batchnorm_backward(dout, cache):
    xhat, gamma, xc, std, var, eps = cache
    dxhat = dout * gamma
    dvar = (dxhat * xc).sum(axis=0) * -0.5 * (var + eps) ** -1.5
    dx = dxhat / std + dvar * 2 * xc / dout.shape[0]  # BUG: no dμ / N, the path through the mean
    return dx, (dout * xhat).sum(axis=0), dout.sum(axis=0)


def layernorm_forward(x, gamma, beta, ln_param):
    eps = ln_param.get("eps", 1e-5)
    mu = x.mean(axis=0, keepdims=True)  # BUG: over the batch (axis 0), not the features
    xc = x - mu
    std = np.sqrt((xc**2).mean(axis=0, keepdims=True) + eps)
    xhat = xc / std
    return gamma * xhat + beta, (xhat, gamma, std)


def dropout_backward(dout, cache):
    dropout_param, mask = cache
    return dout * (mask != 0)  # BUG: the keep pattern without its 1/p

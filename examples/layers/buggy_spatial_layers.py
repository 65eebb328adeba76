"""cs231n_layers.py with classic family-3 bugs: conv_backward_naive's db taken from the first example
only (not summed over the N examples), max_pool_backward_naive routing every window's dout to its
first (top-left) entry instead of its max, spatial_batchnorm_forward reading x (N, C, H, W) as
(N·H·W, C) rows without moving C last (so each "channel" mixes channels and positions), and
spatial_groupnorm_backward forgetting the mean term. Everything else is the correct module's."""

import numpy as np

from .cs231n_layers import *  # noqa: F403
from .cs231n_layers import batchnorm_forward
from .cs231n_layers import conv_backward_naive as _conv_backward


def conv_backward_naive(dout, cache):
    dx, dw, _ = _conv_backward(dout, cache)
    return dx, dw, dout[0].sum(axis=(1, 2))  # BUG: Σ over the positions of example 0, not over N as well


def max_pool_backward_naive(dout, cache):
    x, pool_param = cache
    stride = pool_param["stride"]
    N, C, Ho, Wo = dout.shape
    dx = np.zeros_like(x)
    for i in range(Ho):
        for j in range(Wo):
            dx[:, :, i * stride, j * stride] += dout[:, :, i, j]  # BUG: the window's first entry, not its max
    return dx


def spatial_batchnorm_forward(x, gamma, beta, bn_param):
    N, C, H, W = x.shape
    out, cache = batchnorm_forward(x.reshape(-1, C), gamma, beta, bn_param)  # BUG: no transpose to (N, H, W, C)
    return out.reshape(x.shape), cache


def spatial_groupnorm_backward(dout, cache):
    xhat, gamma, std, G = cache
    N, C, H, W = dout.shape
    dxhat = (dout * gamma).reshape(N, G, -1)
    xh = xhat.reshape(N, G, -1)
    n = xh.shape[2]
    dx = (n * dxhat - xh * (dxhat * xh).sum(axis=2, keepdims=True)) / (n * std)  # BUG: no - Σ dx̂ (the mean)
    dgamma = (dout * xhat).sum(axis=(0, 2, 3), keepdims=True)
    return dx.reshape(dout.shape), dgamma, dout.sum(axis=(0, 2, 3), keepdims=True)

"""cs231n_layers.py with classic bugs: affine_backward's db not summed over N and its dw from
x dout instead of xᵀ dout where the shapes allow it; relu_backward masking with the output of dout
(dout > 0) instead of the input; softmax_loss's dx not divided by N. sigmoid, svm_loss and
families 2 and 3 (their bugs are in buggy_norm_layers.py and buggy_spatial_layers.py) are correct."""

import numpy as np

from .cs231n_layers import (  # noqa: F401
    affine_forward,
    batchnorm_backward,
    batchnorm_backward_alt,
    batchnorm_forward,
    conv_backward_naive,
    conv_forward_naive,
    dropout_backward,
    dropout_forward,
    layernorm_backward,
    layernorm_forward,
    max_pool_backward_naive,
    max_pool_forward_naive,
    relu_forward,
    sigmoid_backward,
    sigmoid_forward,
    spatial_batchnorm_backward,
    spatial_batchnorm_forward,
    spatial_groupnorm_backward,
    spatial_groupnorm_forward,
    svm_loss,
)


def affine_backward(dout, cache):
    x, w, b = cache
    dx = (dout @ w.T).reshape(x.shape)
    dw = x.reshape(x.shape[0], -1).T @ dout
    db = dout[0]  # BUG: the first example's dout, not the sum over N
    return dx, dw, db


def relu_backward(dout, cache):
    return dout * (dout > 0)  # BUG: masks by the sign of dout, not of x


def softmax_loss(x, y):
    shifted = x - x.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    N = x.shape[0]
    loss = -log_probs[np.arange(N), y].sum() / N
    dx = np.exp(log_probs)
    dx[np.arange(N), y] -= 1
    return loss, dx  # BUG: dx not divided by N

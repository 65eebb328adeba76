"""Second textbook forms of CS231n's layer functions, written for this project.

The same functions as ``cs231n_layers.py``, each computed another way a correct solution is often
written: einsum instead of matrix products, the sigmoid through tanh, probabilities instead of
log-softmax, the hinge loss by loops, batchnorm's variance in one pass (E[x²] − μ²) with the
simplified backward formula, layernorm as batchnorm of xᵀ by the computational graph, dropout's
mask as booleans, conv by im2col, max-pool by the windows' argmax, spatial batchnorm straight over
the axes (0, 2, 3), groupnorm with a one-pass variance. Each must pass within its op's bound: the
error model has to hold for every correct form, not only the first.
"""

import numpy as np


def affine_forward(x, w, b):
    return np.einsum("nd,dm->nm", x.reshape(len(x), -1), w) + b, (x, w)


def affine_backward(dout, cache):
    x, w = cache
    x2 = x.reshape(len(x), -1)
    return (np.einsum("nm,dm->nd", dout, w).reshape(x.shape), np.einsum("nd,nm->dm", x2, dout),
            np.ones(len(dout), dout.dtype) @ dout)


def relu_forward(x):
    return np.where(x > 0, x, 0).astype(x.dtype), x


def relu_backward(dout, x):
    return np.where(x > 0, dout, 0).astype(dout.dtype)


def _sigmoid(z):
    return (1 + np.tanh(z / 2)) / 2


def sigmoid_forward(x):
    return _sigmoid(x).astype(x.dtype), x


def sigmoid_backward(dout, x):  # from x: σ(x) σ(-x)
    return (dout * _sigmoid(x) * _sigmoid(-x)).astype(dout.dtype)


def softmax_loss(x, y):  # explicit probabilities, the log of the picked one
    e = np.exp(x - x.max(axis=1, keepdims=True))
    p = e / e.sum(axis=1, keepdims=True)
    N = len(x)
    loss = -np.log(p[np.arange(N), y]).mean()
    p[np.arange(N), y] -= 1
    return loss, p / N


def svm_loss(x, y):  # loops over examples and classes
    N, C = x.shape
    loss, dx = 0.0, np.zeros_like(x)
    for i in range(N):
        for k in range(C):
            margin = x[i, k] - x[i, y[i]] + 1
            if k != y[i] and margin > 0:
                loss += margin
                dx[i, k] += 1
                dx[i, y[i]] -= 1
    return loss / N, dx / N


def batchnorm_forward(x, gamma, beta, bn_param):  # one pass: σ² = mean(x²) - μ², folded into a shift
    mu = x.mean(axis=0)
    inv = (np.mean(x * x, axis=0) - mu * mu + bn_param["eps"]) ** -0.5
    scale = gamma * inv
    return x * scale + (beta - mu * scale), (x, mu, inv, gamma)


def batchnorm_backward(dout, cache):  # the simplified formula, from x and inv
    x, mu, inv, gamma = cache
    xhat = (x - mu) * inv
    dgamma, dbeta = np.einsum("nd,nd->d", dout, xhat), dout.sum(axis=0)
    return gamma * inv * (dout - dbeta / len(x) - xhat * dgamma / len(x)), dgamma, dbeta


def layernorm_forward(x, gamma, beta, ln_param):  # layernorm as batchnorm of xᵀ
    xt = x.T
    mu = xt.mean(axis=0)
    xc = xt - mu
    std = np.sqrt((xc * xc).mean(axis=0) + ln_param["eps"])
    xhat = (xc / std).T
    return gamma * xhat + beta, (xc, std, (xc * xc).mean(axis=0), ln_param["eps"], gamma, xhat)


def layernorm_backward(dout, cache):  # by the computational graph, on xᵀ
    xc, std, var, eps, gamma, xhat = cache
    D = xc.shape[0]
    dxhat = (dout * gamma).T
    dvar = (dxhat * xc).sum(axis=0) * -0.5 * (var + eps) ** -1.5
    dmu = -(dxhat / std).sum(axis=0) + dvar * (-2 * xc).mean(axis=0)
    return (dxhat / std + dvar * 2 * xc / D + dmu / D).T, (dout * xhat).sum(axis=0), dout.sum(axis=0)


def dropout_forward(x, dropout_param):  # the keep pattern as booleans, divided by p after the product
    np.random.seed(dropout_param["seed"])
    keep = np.random.rand(*x.shape) < dropout_param["p"]
    return (x * keep / np.asarray(dropout_param["p"], x.dtype)).astype(x.dtype), (keep, dropout_param["p"])


def dropout_backward(dout, cache):
    keep, p = cache
    return np.where(keep, dout / np.asarray(p, dout.dtype), 0).astype(dout.dtype)


def _offsets(x, HH, WW, stride, Ho, Wo):  # im2col by kernel offset: cols[n, c, kh, kw, i, j]
    return np.stack([np.stack([x[:, :, kh:kh + stride * (Ho - 1) + 1:stride, kw:kw + stride * (Wo - 1) + 1:stride]
                               for kw in range(WW)], 2) for kh in range(HH)], 2)


def conv_forward_naive(x, w, b, conv_param):  # im2col, then one matrix product
    s, p = conv_param["stride"], conv_param["pad"]
    F, C, HH, WW = w.shape
    Ho, Wo = (x.shape[2] + 2 * p - HH) // s + 1, (x.shape[3] + 2 * p - WW) // s + 1
    cols = _offsets(np.pad(x, ((0, 0), (0, 0), (p, p), (p, p))), HH, WW, s, Ho, Wo)
    out = np.einsum("fk,nkij->nfij", w.reshape(F, -1), cols.reshape(len(x), C * HH * WW, Ho, Wo))
    return out + b[:, None, None], (x, w, cols, conv_param)


def conv_backward_naive(dout, cache):  # dcols = wᵀ dout, then col2im by kernel offset
    x, w, cols, conv_param = cache
    s, p = conv_param["stride"], conv_param["pad"]
    F, C, HH, WW = w.shape
    N, _, Ho, Wo = dout.shape
    dw = np.einsum("nfij,nckhij->fckh", dout, cols)
    dcols = np.einsum("fckh,nfij->nckhij", w, dout)
    dx_pad = np.zeros((N, C, x.shape[2] + 2 * p, x.shape[3] + 2 * p), x.dtype)
    for kh in range(HH):
        for kw in range(WW):
            dx_pad[:, :, kh:kh + s * (Ho - 1) + 1:s, kw:kw + s * (Wo - 1) + 1:s] += dcols[:, :, kh, kw]
    return dx_pad[:, :, p:p + x.shape[2], p:p + x.shape[3]], dw, dout.sum(axis=(0, 2, 3))


def max_pool_forward_naive(x, pool_param):  # the windows reshaped to rows, their argmax
    PH, PW, s = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    Ho, Wo = (x.shape[2] - PH) // s + 1, (x.shape[3] - PW) // s + 1
    rows = _offsets(x, PH, PW, s, Ho, Wo).reshape(*x.shape[:2], PH * PW, Ho, Wo)
    arg = rows.argmax(axis=2)
    return np.take_along_axis(rows, arg[:, :, None], 2)[:, :, 0], (x.shape, arg, pool_param)


def max_pool_backward_naive(dout, cache):  # each dout to its window's argmax, overlaps added
    shape, arg, pool_param = cache
    PW, s = pool_param["pool_width"], pool_param["stride"]
    n, c, i, j = np.indices(dout.shape)
    dx = np.zeros(shape, dout.dtype)
    np.add.at(dx, (n, c, i * s + arg // PW, j * s + arg % PW), dout)
    return dx


def spatial_batchnorm_forward(x, gamma, beta, bn_param):  # straight over the axes (0, 2, 3)
    g = gamma[:, None, None]
    mu = x.mean(axis=(0, 2, 3), keepdims=True)
    xc = x - mu
    var = (xc * xc).mean(axis=(0, 2, 3), keepdims=True)
    std = np.sqrt(var + bn_param["eps"])
    xhat = xc / std
    return g * xhat + beta[:, None, None], (xc, std, var, bn_param["eps"], g, xhat)


def spatial_batchnorm_backward(dout, cache):  # by the computational graph
    xc, std, var, eps, g, xhat = cache
    m = dout.size // dout.shape[1]
    dxhat = dout * g
    dvar = (dxhat * xc).sum(axis=(0, 2, 3), keepdims=True) * -0.5 * (var + eps) ** -1.5
    dmu = -(dxhat / std).sum(axis=(0, 2, 3), keepdims=True) + dvar * (-2 * xc).mean(axis=(0, 2, 3), keepdims=True)
    dx = dxhat / std + dvar * 2 * xc / m + dmu / m
    return dx, (dout * xhat).sum(axis=(0, 2, 3)), dout.sum(axis=(0, 2, 3))


def spatial_groupnorm_forward(x, gamma, beta, G, gn_param):  # σ² = mean(x²) - μ² per group
    N = len(x)
    xg = x.reshape(N, G, -1)
    mu = xg.mean(axis=2, keepdims=True)
    inv = ((xg * xg).mean(axis=2, keepdims=True) - mu * mu + gn_param["eps"]) ** -0.5
    xhat = ((xg - mu) * inv).reshape(x.shape)
    return gamma * xhat + beta, (xg - mu, inv, gamma, xhat, G)


def spatial_groupnorm_backward(dout, cache):  # by the computational graph, per group
    xc, inv, gamma, xhat, G = cache
    N, n = len(dout), xc.shape[2]
    dxhat = (dout * gamma).reshape(N, G, -1)
    dvar = (dxhat * xc).sum(axis=2, keepdims=True) * -0.5 * inv**3
    dmu = -(dxhat * inv).sum(axis=2, keepdims=True) + dvar * (-2 * xc).mean(axis=2, keepdims=True)
    dx = (dxhat * inv + dvar * 2 * xc / n + dmu / n).reshape(dout.shape)
    return dx, (dout * xhat).sum(axis=(0, 2, 3), keepdims=True), dout.sum(axis=(0, 2, 3), keepdims=True)


batchnorm_backward_alt = batchnorm_backward

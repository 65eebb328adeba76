"""Layer functions in CS231n's style, written for this project: each forward returns (out, cache),
each backward takes (dout, cache) and returns the gradients of <dout, out> in the order of the inputs.

Shapes: x (N, d1, ..., dk) read as (N, D), w (D, M), b (M,); losses take scores x (N, C) and integer
labels y (N,) and return (loss, dx) with the mean over the N examples. The spatial layers take
x (N, C, H, W): conv w (F, C, HH, WW) and b (F,), written as naive loops.
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


def batchnorm_forward(x, gamma, beta, bn_param):
    """Training mode: out = γ x̂ + β, x̂ = (x - μ) / sqrt(σ² + eps), μ and σ² over the batch (axis 0);
    the running averages are updated in bn_param. Test mode uses them instead."""
    mode, eps, momentum = bn_param["mode"], bn_param.get("eps", 1e-5), bn_param.get("momentum", 0.9)
    D = x.shape[1]
    running_mean = bn_param.get("running_mean", np.zeros(D, dtype=x.dtype))
    running_var = bn_param.get("running_var", np.zeros(D, dtype=x.dtype))
    if mode == "train":
        mu = x.mean(axis=0)
        xc = x - mu
        var = (xc**2).mean(axis=0)
        std = np.sqrt(var + eps)
        xhat = xc / std
        out = gamma * xhat + beta
        running_mean = momentum * running_mean + (1 - momentum) * mu
        running_var = momentum * running_var + (1 - momentum) * var
        cache = (xhat, gamma, xc, std, var, eps)
    elif mode == "test":
        out = gamma * (x - running_mean) / np.sqrt(running_var + eps) + beta
        cache = None
    else:
        raise ValueError(f"invalid batchnorm mode {mode!r}")
    bn_param["running_mean"], bn_param["running_var"] = running_mean, running_var
    return out, cache


def batchnorm_backward(dout, cache):
    """By the computational graph: dx̂ = dout γ, then dσ², dμ, and dx = dx̂/std + dσ² 2 xc / N + dμ / N."""
    xhat, gamma, xc, std, var, eps = cache
    N = dout.shape[0]
    dbeta = dout.sum(axis=0)
    dgamma = (dout * xhat).sum(axis=0)
    dxhat = dout * gamma
    dvar = (dxhat * xc).sum(axis=0) * -0.5 * (var + eps) ** -1.5
    dmu = -(dxhat / std).sum(axis=0) + dvar * (-2 * xc).mean(axis=0)
    dx = dxhat / std + dvar * 2 * xc / N + dmu / N
    return dx, dgamma, dbeta


def batchnorm_backward_alt(dout, cache):
    """The simplified formula: dx = (γ / (N std)) (N dout - Σ dout - x̂ Σ dout x̂)."""
    xhat, gamma, xc, std, var, eps = cache
    N = dout.shape[0]
    dbeta = dout.sum(axis=0)
    dgamma = (dout * xhat).sum(axis=0)
    dx = (gamma / (N * std)) * (N * dout - dbeta - xhat * dgamma)
    return dx, dgamma, dbeta


def layernorm_forward(x, gamma, beta, ln_param):
    """out = γ x̂ + β with x̂ normalized over each example's D features (axis 1)."""
    eps = ln_param.get("eps", 1e-5)
    mu = x.mean(axis=1, keepdims=True)
    xc = x - mu
    std = np.sqrt((xc**2).mean(axis=1, keepdims=True) + eps)
    xhat = xc / std
    return gamma * xhat + beta, (xhat, gamma, std)


def layernorm_backward(dout, cache):
    """Batchnorm's simplified formula along axis 1, with dx̂ = dout γ; dγ and dβ still sum over N."""
    xhat, gamma, std = cache
    D = dout.shape[1]
    dxhat = dout * gamma
    dx = (D * dxhat - dxhat.sum(axis=1, keepdims=True) - xhat * (dxhat * xhat).sum(axis=1, keepdims=True)) / (D * std)
    return dx, (dout * xhat).sum(axis=0), dout.sum(axis=0)


def dropout_forward(x, dropout_param):
    """Inverted dropout, keep probability p: out = x mask, mask = (rand < p) / p, so the test-time
    forward is x itself. The mask is kept in x's dtype, so out stays in it."""
    p, mode = dropout_param["p"], dropout_param["mode"]
    if "seed" in dropout_param:
        np.random.seed(dropout_param["seed"])
    if mode == "train":
        mask = ((np.random.rand(*x.shape) < p) / p).astype(x.dtype)
        out = x * mask
    else:
        mask, out = None, x
    return out, (dropout_param, mask)


def dropout_backward(dout, cache):
    dropout_param, mask = cache
    return dout * mask if dropout_param["mode"] == "train" else dout


def conv_forward_naive(x, w, b, conv_param):
    """out[n, f, i, j] = Σ_{c, kh, kw} x_pad[n, c, i s + kh, j s + kw] w[f, c, kh, kw] + b[f], by loops.

    x (N, C, H, W), w (F, C, HH, WW), b (F,); conv_param {'stride': s, 'pad': p} (zero padding)."""
    stride, pad = conv_param["stride"], conv_param["pad"]
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    Ho, Wo = 1 + (H + 2 * pad - HH) // stride, 1 + (W + 2 * pad - WW) // stride
    x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    out = np.zeros((N, F, Ho, Wo), x.dtype)
    for n in range(N):
        for f in range(F):
            for i in range(Ho):
                for j in range(Wo):
                    window = x_pad[n, :, i * stride:i * stride + HH, j * stride:j * stride + WW]
                    out[n, f, i, j] = np.sum(window * w[f]) + b[f]
    return out, (x, w, b, conv_param)


def conv_backward_naive(dout, cache):
    """Each output's window sends dout w[f] back to x_pad and dout window to dw[f]; db[f] = Σ_{n, i, j} dout."""
    x, w, b, conv_param = cache
    stride, pad = conv_param["stride"], conv_param["pad"]
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    _, _, Ho, Wo = dout.shape
    x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    dx_pad, dw = np.zeros_like(x_pad), np.zeros_like(w)
    for n in range(N):
        for f in range(F):
            for i in range(Ho):
                for j in range(Wo):
                    rows, cols = slice(i * stride, i * stride + HH), slice(j * stride, j * stride + WW)
                    dx_pad[n, :, rows, cols] += w[f] * dout[n, f, i, j]
                    dw[f] += x_pad[n, :, rows, cols] * dout[n, f, i, j]
    db = dout.sum(axis=(0, 2, 3))
    return dx_pad[:, :, pad:pad + H, pad:pad + W], dw, db


def max_pool_forward_naive(x, pool_param):
    """out[n, c, i, j] = the max of each (pool_height, pool_width) window at the stride, by loops."""
    PH, PW, stride = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    N, C, H, W = x.shape
    Ho, Wo = 1 + (H - PH) // stride, 1 + (W - PW) // stride
    out = np.zeros((N, C, Ho, Wo), x.dtype)
    for i in range(Ho):
        for j in range(Wo):
            out[:, :, i, j] = x[:, :, i * stride:i * stride + PH, j * stride:j * stride + PW].max(axis=(2, 3))
    return out, (x, pool_param)


def max_pool_backward_naive(dout, cache):
    """Each window's dout goes to the entry that was its max (and nowhere else)."""
    x, pool_param = cache
    PH, PW, stride = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    N, C, Ho, Wo = dout.shape
    dx = np.zeros_like(x)
    for n in range(N):
        for c in range(C):
            for i in range(Ho):
                for j in range(Wo):
                    window = x[n, c, i * stride:i * stride + PH, j * stride:j * stride + PW]
                    kh, kw = np.unravel_index(window.argmax(), window.shape)
                    dx[n, c, i * stride + kh, j * stride + kw] += dout[n, c, i, j]
    return dx


def spatial_batchnorm_forward(x, gamma, beta, bn_param):
    """Batchnorm of each channel over its N·H·W entries: x read as (N·H·W, C) rows."""
    N, C, H, W = x.shape
    out, cache = batchnorm_forward(x.transpose(0, 2, 3, 1).reshape(-1, C), gamma, beta, bn_param)
    return out.reshape(N, H, W, C).transpose(0, 3, 1, 2), cache


def spatial_batchnorm_backward(dout, cache):
    N, C, H, W = dout.shape
    dx, dgamma, dbeta = batchnorm_backward_alt(dout.transpose(0, 2, 3, 1).reshape(-1, C), cache)
    return dx.reshape(N, H, W, C).transpose(0, 3, 1, 2), dgamma, dbeta


def spatial_groupnorm_forward(x, gamma, beta, G, gn_param):
    """out = γ x̂ + β, x̂ normalized over each example's G groups of C/G channels; γ, β (1, C, 1, 1)."""
    eps = gn_param.get("eps", 1e-5)
    N, C, H, W = x.shape
    xg = x.reshape(N, G, -1)
    xc = xg - xg.mean(axis=2, keepdims=True)
    std = np.sqrt((xc**2).mean(axis=2, keepdims=True) + eps)
    xhat = (xc / std).reshape(x.shape)
    return gamma * xhat + beta, (xhat, gamma, std, G)


def spatial_groupnorm_backward(dout, cache):
    """Layernorm's simplified formula within each group (dx̂ = dout γ); dγ, dβ sum over N, H, W."""
    xhat, gamma, std, G = cache
    N, C, H, W = dout.shape
    dxhat = (dout * gamma).reshape(N, G, -1)
    xh = xhat.reshape(N, G, -1)
    n = xh.shape[2]
    dx = (n * dxhat - dxhat.sum(axis=2, keepdims=True) - xh * (dxhat * xh).sum(axis=2, keepdims=True)) / (n * std)
    dgamma = (dout * xhat).sum(axis=(0, 2, 3), keepdims=True)
    return dx.reshape(dout.shape), dgamma, dout.sum(axis=(0, 2, 3), keepdims=True)

"""CS231n convention, BUGGY: relu_backward masks with the upstream gradient, not the input.

The bug: a local ``relu_backward`` computes ``dx = dout * (dout > 0)`` instead of
``dout * (x > 0)``: it keeps the positive upstream gradients instead of the gradients of the
units that were active in the forward pass. A local copy of ``affine_relu_backward`` (body
unchanged from ``layer_utils``) makes the sandwich layer use it. The loss and dW_L, db_L are
right; every hidden layer's gradients are wrong.

What a checker should report first (backward order dW_L, db_L, ..., dW_1, db_1): dW_{L-1}.
Not detectable without a hidden layer (hidden_dims = []).

The class is a copy of ``fc_net.py``'s ``FullyConnectedNet`` (same interface, shapes and
dtypes); only the two functions named above are redefined locally, after
``from ..layers import *``, so that this module's class picks them up.
"""

import numpy as np

from ..layer_utils import *
from ..layers import *


def relu_backward(dout, cache):
    """ReLU backward -- BUG: masks with dout > 0 instead of x > 0."""
    x = cache  # noqa: F841  (the bug: x is fetched, then the mask is taken from dout)
    dx = dout * (dout > 0)
    return dx


def affine_relu_backward(dout, cache):
    """Backward pass for affine_relu_forward (as in layer_utils, using the relu_backward above)."""
    fc_cache, relu_cache = cache
    da = relu_backward(dout, relu_cache)
    dx, dw, db = affine_backward(da, fc_cache)
    return dx, dw, db


class FullyConnectedNet:
    """A multi-layer fully connected network with ReLU hidden layers and a softmax loss."""

    def __init__(self, hidden_dims, input_dim=3 * 32 * 32, num_classes=10, dropout_keep_ratio=1,
                 normalization=None, reg=0.0, weight_scale=1e-2, dtype=np.float32, seed=None):
        """
        - hidden_dims: list of the sizes of the hidden layers.
        - input_dim, num_classes: D and C.
        - dropout_keep_ratio: probability of keeping a unit; 1 means no dropout.
        - normalization: only None here (no batch/layer norm in this example).
        - reg: L2 regularisation strength.
        - weight_scale: standard deviation of the initial weights.
        - dtype: the dtype of every parameter and computation.
        - seed: seeds the dropout masks, for gradient checks.
        """
        if normalization is not None:
            raise NotImplementedError("this example has no batch/layer normalisation")
        self.normalization = normalization
        self.use_dropout = dropout_keep_ratio != 1
        self.reg = reg
        self.num_layers = 1 + len(hidden_dims)
        self.dtype = dtype
        self.params = {}

        dims = [input_dim] + list(hidden_dims) + [num_classes]
        for i in range(self.num_layers):
            self.params["W%d" % (i + 1)] = weight_scale * np.random.randn(dims[i], dims[i + 1])
            self.params["b%d" % (i + 1)] = np.zeros(dims[i + 1])

        self.dropout_param = {}
        if self.use_dropout:
            self.dropout_param = {"mode": "train", "p": dropout_keep_ratio}
            if seed is not None:
                self.dropout_param["seed"] = seed

        for k, v in self.params.items():
            self.params[k] = v.astype(dtype)

    def loss(self, X, y=None):
        """Scores (N, C) when y is None; otherwise (loss, grads)."""
        X = X.astype(self.dtype)
        mode = "test" if y is None else "train"
        if self.use_dropout:
            self.dropout_param["mode"] = mode

        # forward: L - 1 {affine - relu - [dropout]} blocks, then the last affine
        caches = {}
        out = X
        for i in range(1, self.num_layers):
            out, caches["affine_relu%d" % i] = affine_relu_forward(out, self.params["W%d" % i], self.params["b%d" % i])
            if self.use_dropout:
                out, caches["dropout%d" % i] = dropout_forward(out, self.dropout_param)
        L = self.num_layers
        scores, caches["affine%d" % L] = affine_forward(out, self.params["W%d" % L], self.params["b%d" % L])

        if mode == "test":
            return scores

        loss, grads = 0.0, {}
        loss, dout = softmax_loss(scores, y)
        for i in range(1, L + 1):
            W = self.params["W%d" % i]
            loss += 0.5 * self.reg * np.sum(W * W)

        # backward, layer L down to layer 1
        dout, grads["W%d" % L], grads["b%d" % L] = affine_backward(dout, caches["affine%d" % L])
        grads["W%d" % L] += self.reg * self.params["W%d" % L]
        for i in range(L - 1, 0, -1):
            if self.use_dropout:
                dout = dropout_backward(dout, caches["dropout%d" % i])
            dout, grads["W%d" % i], grads["b%d" % i] = affine_relu_backward(dout, caches["affine_relu%d" % i])
            grads["W%d" % i] += self.reg * self.params["W%d" % i]

        return loss, grads

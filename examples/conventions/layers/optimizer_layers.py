"""A layer library in which backward hands its gradients to an optimizer and keeps nothing.

As in many from-scratch libraries: ``Dense.initialize(optimizer)`` gives the layer its own copies
of the optimizer, and ``backward_pass`` computes dW and db, calls ``W_opt.update(W, dW)`` (which
returns the stepped weights) and returns the gradient for the layer below, computed with the
weights as they were. Rows layout; the bias is ``w0`` of shape (1, n_out). The checker's
``layers`` convention passes an optimizer that records what it is given:

    python -m crosscheck check --sut optimizer_layers.py:LAYERS --convention layers
"""

import copy

import numpy as np


class SGD:
    def __init__(self, learning_rate=0.01):
        self.learning_rate = learning_rate

    def update(self, w, grad_wrt_w):
        return w - self.learning_rate * grad_wrt_w


class Dense:
    def __init__(self, n_in, n_units):
        self.n_in, self.n_units = n_in, n_units

    def initialize(self, optimizer):
        limit = 1 / np.sqrt(self.n_in)
        self.W = np.random.uniform(-limit, limit, (self.n_in, self.n_units))
        self.w0 = np.zeros((1, self.n_units))
        self.W_opt, self.w0_opt = copy.copy(optimizer), copy.copy(optimizer)

    def forward_pass(self, X, training=True):
        self.layer_input = X
        return X.dot(self.W) + self.w0

    def backward_pass(self, accum_grad):
        W = self.W  # the gradient below uses the weights of the forward pass
        grad_w = self.layer_input.T.dot(accum_grad)
        grad_w0 = np.sum(accum_grad, axis=0, keepdims=True)
        self.W = self.W_opt.update(self.W, grad_w)
        self.w0 = self.w0_opt.update(self.w0, grad_w0)
        return accum_grad.dot(W.T)


class Activation:
    """A layer applying an elementwise function ``f`` with derivative ``f.gradient``."""

    def __init__(self, f):
        self.f = f

    def forward_pass(self, X, training=True):
        self.layer_input = X
        return self.f(X)

    def backward_pass(self, accum_grad):
        return accum_grad * self.f.gradient(self.layer_input)


class Sigmoid:
    def __call__(self, x):
        e = np.exp(-np.abs(x))
        return np.where(x >= 0, 1 / (1 + e), e / (1 + e))

    def gradient(self, x):
        s = self(x)
        return s * (1 - s)


class TanH:
    def __call__(self, x):
        return np.tanh(x)

    def gradient(self, x):
        return 1 - np.tanh(x) ** 2


class ReLU:
    def __call__(self, x):
        return np.where(x >= 0, x, 0)

    def gradient(self, x):
        return np.where(x > 0, 1, 0).astype(x.dtype)  # 0 at x = 0


class SquareLoss:
    """0.5 (y - p)^2 per entry; the gradient with respect to p."""

    def loss(self, y, y_pred):
        return 0.5 * np.power(y - y_pred, 2)

    def gradient(self, y, y_pred):
        return -(y - y_pred)


LAYERS = {
    "dense": Dense,
    "activations": {"sigmoid": lambda: Activation(Sigmoid()), "tanh": lambda: Activation(TanH()),
                    "relu": lambda: Activation(ReLU())},
    "losses": {"half_sse": SquareLoss},
    "forward": "forward_pass",
    "backward": "backward_pass",
    "bias": "w0",
    "gradients": "optimizer",
    "initialize": "initialize",
}

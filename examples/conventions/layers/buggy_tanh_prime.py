"""mini_layers.py with one classic bug: Tanh.backward uses 1 - A instead of 1 - A². Caught at dW of the first
layer whose activation is tanh, counted from the output (dZ is not returned in this convention).

The correct library, for comparison:

Rows layout (one example per row). ``Dense`` keeps ``W`` (n_in, n_out) and ``b`` (1, n_out) and,
after ``backward``, ``dW`` and ``db``; every layer's ``backward(d_out)`` returns ``d_in``:

    Z = X W + b             dW = Xᵀ d_Z,  db = Σ_examples d_Z,  d_X = d_Z Wᵀ
    A = g(Z)                d_Z = d_A ⊙ g'(Z)

Losses give the per-example value and its gradient with respect to the prediction; the model
(here, the checker's ``layers`` convention) applies the mean. The mapping at the end,
``LAYERS``, is all the checker needs:

    python -m crosscheck check --sut mini_layers.py:LAYERS --convention layers
"""

import numpy as np


class Dense:
    def __init__(self, n_in, n_out):
        self.W = np.random.randn(n_in, n_out) / np.sqrt(n_in)
        self.b = np.zeros((1, n_out))

    def forward(self, X):
        self.X = X
        return X @ self.W + self.b

    def backward(self, dZ):
        self.dW = self.X.T @ dZ
        self.db = dZ.sum(axis=0, keepdims=True)
        return dZ @ self.W.T


class Sigmoid:
    def forward(self, Z):
        # two branches, so that exp never overflows
        e = np.exp(-np.abs(Z))
        self.A = np.where(Z >= 0, 1 / (1 + e), e / (1 + e))
        return self.A

    def backward(self, dA):
        return dA * self.A * (1 - self.A)


class Tanh:
    def forward(self, Z):
        self.A = np.tanh(Z)
        return self.A

    def backward(self, dA):
        return dA * (1 - self.A)  # BUG: tanh' written as 1 - A (sigmoid's shape), not 1 - A²


class ReLU:
    def forward(self, Z):
        self.positive = Z > 0
        return np.where(self.positive, Z, 0)

    def backward(self, dA):
        return np.where(self.positive, dA, 0)


class Identity:
    def forward(self, Z):
        return Z

    def backward(self, dA):
        return dA


class HalfSquaredError:
    def loss(self, y, a):
        return 0.5 * np.sum((a - y) ** 2, axis=1)

    def gradient(self, y, a):
        return a - y


class BinaryCrossEntropy:
    def loss(self, y, a):
        return -np.sum(y * np.log(a) + (1 - y) * np.log(1 - a), axis=1)

    def gradient(self, y, a):
        return (a - y) / (a * (1 - a))


LAYERS = {
    "dense": Dense,
    "activations": {"sigmoid": Sigmoid, "tanh": Tanh, "relu": ReLU, "identity": Identity},
    "losses": {"half_sse": HalfSquaredError, "bce": BinaryCrossEntropy},
    "gradients": {"W": "dW", "b": "db"},
}

"""Step functions in the deeplearning.ai course's style, written for this project.

Examples are columns: A_prev (n_prev, m), W (n, n_prev), b (n, 1). linear_backward's dW and db carry
the mean's 1/m (dW = (1/m) dZ A_prevᵀ, db = (1/m) Σ dZ); dA_prev = Wᵀ dZ does not. The activations'
cache is Z.
"""

import numpy as np


def sigmoid(Z):
    e = np.exp(-np.abs(Z))
    A = np.where(Z >= 0, 1 / (1 + e), e / (1 + e))
    return A, Z


def relu(Z):
    return np.maximum(0, Z), Z


def sigmoid_backward(dA, cache):
    """dZ = dA σ(Z) (1 - σ(Z))."""
    s, _ = sigmoid(cache)
    return dA * s * (1 - s)


def relu_backward(dA, cache):
    """dZ = dA where Z > 0."""
    Z = cache
    dZ = np.array(dA, copy=True)
    dZ[Z <= 0] = 0
    return dZ


def linear_forward(A, W, b):
    Z = W @ A + b
    return Z, (A, W, b)


def linear_backward(dZ, cache):
    A_prev, W, b = cache
    m = A_prev.shape[1]
    dW = (dZ @ A_prev.T) / m
    db = dZ.sum(axis=1, keepdims=True) / m
    dA_prev = W.T @ dZ
    return dA_prev, dW, db


def linear_activation_forward(A_prev, W, b, activation):
    Z, linear_cache = linear_forward(A_prev, W, b)
    A, activation_cache = {"sigmoid": sigmoid, "relu": relu}[activation](Z)
    return A, (linear_cache, activation_cache)


def linear_activation_backward(dA, cache, activation):
    linear_cache, activation_cache = cache
    dZ = {"sigmoid": sigmoid_backward, "relu": relu_backward}[activation](dA, activation_cache)
    return linear_backward(dZ, linear_cache)

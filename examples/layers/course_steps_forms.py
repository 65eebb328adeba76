"""Second textbook forms of the deeplearning.ai course's step functions, written for this project.

The same functions as ``course_steps.py``, computed another way: the plain 1 / (1 + e^-Z) sigmoid,
relu as Z ⊙ (Z > 0), sigmoid_backward from a fresh A, and linear_backward applying the 1/m to dZ
before the products.
"""

import numpy as np


def sigmoid(Z):
    return 1 / (1 + np.exp(-Z)), Z


def relu(Z):
    return Z * (Z > 0), Z


def sigmoid_backward(dA, Z):  # A (1 - A) from a fresh A
    A = 1 / (1 + np.exp(-Z))
    return dA * A * (1 - A)


def relu_backward(dA, Z):
    return np.where(Z > 0, dA, 0).astype(dA.dtype)


def linear_forward(A, W, b):
    return np.dot(W, A) + b, (A, W, b)


def linear_backward(dZ, cache):  # the 1/m applied to dZ first
    A_prev, W, _ = cache
    scaled = dZ / A_prev.shape[1]
    return np.dot(W.T, dZ), np.dot(scaled, A_prev.T), np.sum(scaled, axis=1, keepdims=True)


def linear_activation_forward(A_prev, W, b, activation):
    Z, lc = linear_forward(A_prev, W, b)
    A, ac = (sigmoid if activation == "sigmoid" else relu)(Z)
    return A, (lc, ac)


def linear_activation_backward(dA, cache, activation):
    lc, ac = cache
    return linear_backward((sigmoid_backward if activation == "sigmoid" else relu_backward)(dA, ac), lc)

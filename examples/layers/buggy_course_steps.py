"""course_steps.py with two classic bugs: db without the 1/m, and sigmoid_backward missing (1 - σ)."""


from .course_steps import linear_activation_forward, linear_forward, relu, relu_backward, sigmoid  # noqa: F401


def sigmoid_backward(dA, cache):
    s, _ = sigmoid(cache)
    return dA * s  # BUG: dZ = dA σ, the (1 - σ) forgotten


def linear_backward(dZ, cache):
    A_prev, W, b = cache
    m = A_prev.shape[1]
    dW = (dZ @ A_prev.T) / m
    db = dZ.sum(axis=1, keepdims=True)  # BUG: db without the 1/m
    dA_prev = W.T @ dZ
    return dA_prev, dW, db


def linear_activation_backward(dA, cache, activation):
    linear_cache, activation_cache = cache
    dZ = {"sigmoid": sigmoid_backward, "relu": relu_backward}[activation](dA, activation_cache)
    return linear_backward(dZ, linear_cache)

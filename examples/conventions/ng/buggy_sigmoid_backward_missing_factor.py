"""deeplearning.ai convention, BUGGY: sigmoid_backward forgets the (1 - s) factor.

The bug: in ``sigmoid_backward``, ``dZ = dA * s`` instead of ``dA * s * (1 - s)`` (the
derivative of the sigmoid taken as the sigmoid itself). The output layer's dZ is wrong, so
every gradient is wrong; the cost is right.

What a checker should report first (backward order dW_L, db_L, ..., dW_1, db_1, dA0):
dW_L. (dZ is not returned in this convention, so the first diverging tensor is dW_L.)

Everything else is a copy of ``dnn_utils.py`` (same interface, shapes and dtypes).
"""

import numpy as np

# ---------------------------------------------------------------- activations


def sigmoid(Z):
    """A = 1 / (1 + exp(-Z)); cache = Z.

    Written with exp(-|Z|) so that it never overflows, whatever the sign of Z.
    """
    E = np.exp(-np.abs(Z))
    A = np.where(Z >= 0, 1 / (1 + E), E / (1 + E))
    cache = Z
    return A, cache


def relu(Z):
    """A = max(0, Z); cache = Z."""
    A = np.maximum(0, Z)
    cache = Z
    return A, cache


def sigmoid_backward(dA, cache):
    """dZ = dA * s * (1 - s) with s = sigmoid(Z)."""
    Z = cache
    s, _ = sigmoid(Z)
    dZ = dA * s
    return dZ


def relu_backward(dA, cache):
    """dZ = dA where Z > 0, 0 elsewhere (relu'(0) = 0)."""
    Z = cache
    dZ = np.array(dA, copy=True)
    dZ[Z <= 0] = 0
    return dZ


# ---------------------------------------------------------------- forward


def linear_forward(A, W, b):
    """Z = W A + b; cache = (A, W, b)."""
    Z = np.dot(W, A) + b
    cache = (A, W, b)
    return Z, cache


def linear_activation_forward(A_prev, W, b, activation):
    """LINEAR -> ACTIVATION ("sigmoid" or "relu"); cache = (linear_cache, activation_cache)."""
    Z, linear_cache = linear_forward(A_prev, W, b)
    if activation == "sigmoid":
        A, activation_cache = sigmoid(Z)
    elif activation == "relu":
        A, activation_cache = relu(Z)
    else:
        raise ValueError(f"unknown activation {activation!r}")
    cache = (linear_cache, activation_cache)
    return A, cache


def L_model_forward(X, parameters):
    """[LINEAR -> RELU] * (L-1) -> LINEAR -> SIGMOID.

    Returns AL (n_L, m) and caches, a list of L caches (index l-1 for layer l).
    """
    caches = []
    A = X
    L = len(parameters) // 2
    for l in range(1, L):
        A_prev = A
        A, cache = linear_activation_forward(A_prev, parameters["W" + str(l)], parameters["b" + str(l)], "relu")
        caches.append(cache)
    AL, cache = linear_activation_forward(A, parameters["W" + str(L)], parameters["b" + str(L)], "sigmoid")
    caches.append(cache)
    return AL, caches


# ---------------------------------------------------------------- cost


def compute_cost(AL, Y):
    """-1/m * sum(Y log AL + (1 - Y) log(1 - AL)), as a 0-d array (np.squeeze)."""
    m = Y.shape[1]
    Y = Y.reshape(AL.shape).astype(AL.dtype, copy=False)
    cost = -1 / m * np.sum(Y * np.log(AL) + (1 - Y) * np.log(1 - AL))
    cost = np.squeeze(cost)
    return cost


# ---------------------------------------------------------------- backward


def linear_backward(dZ, cache):
    """dW = 1/m dZ A_prev^T,  db = 1/m sum(dZ, axis=1),  dA_prev = W^T dZ."""
    A_prev, W, b = cache
    m = A_prev.shape[1]
    dW = 1 / m * np.dot(dZ, A_prev.T)
    db = 1 / m * np.sum(dZ, axis=1, keepdims=True)
    dA_prev = np.dot(W.T, dZ)
    return dA_prev, dW, db


def linear_activation_backward(dA, cache, activation):
    """ACTIVATION backward, then LINEAR backward: returns (dA_prev, dW, db)."""
    linear_cache, activation_cache = cache
    if activation == "relu":
        dZ = relu_backward(dA, activation_cache)
    elif activation == "sigmoid":
        dZ = sigmoid_backward(dA, activation_cache)
    else:
        raise ValueError(f"unknown activation {activation!r}")
    return linear_backward(dZ, linear_cache)


def L_model_backward(AL, Y, caches):
    """Gradients of the cost, keyed "dA{l-1}", "dW{l}", "db{l}" for l = L, ..., 1."""
    grads = {}
    L = len(caches)
    Y = Y.reshape(AL.shape).astype(AL.dtype, copy=False)

    dAL = -(np.divide(Y, AL) - np.divide(1 - Y, 1 - AL))

    current_cache = caches[L - 1]
    dA_prev, dW, db = linear_activation_backward(dAL, current_cache, "sigmoid")
    grads["dA" + str(L - 1)] = dA_prev
    grads["dW" + str(L)] = dW
    grads["db" + str(L)] = db

    for l in reversed(range(L - 1)):
        current_cache = caches[l]
        dA_prev, dW, db = linear_activation_backward(grads["dA" + str(l + 1)], current_cache, "relu")
        grads["dA" + str(l)] = dA_prev
        grads["dW" + str(l + 1)] = dW
        grads["db" + str(l + 1)] = db

    return grads


def initialize_parameters_deep(layer_dims, seed=1):
    """W{l} ~ N(0, 1) / sqrt(n_{l-1}), b{l} = 0 (float64), for trying the module by hand."""
    rng = np.random.default_rng(seed)
    parameters = {}
    for l in range(1, len(layer_dims)):
        parameters["W" + str(l)] = rng.standard_normal((layer_dims[l], layer_dims[l - 1])) / np.sqrt(layer_dims[l - 1])
        parameters["b" + str(l)] = np.zeros((layer_dims[l], 1))
    return parameters

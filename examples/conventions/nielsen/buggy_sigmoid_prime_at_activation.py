"""Nielsen convention (network.py), BUGGY: sigmoid' of the hidden layers taken at a, not z.

The bug: in the backward loop of ``backprop``, ``sp = sigmoid_prime(activations[-l])`` --
the derivative evaluated at the layer's activation a = sigmoid(z) instead of its weighted
input z (mixing up sigmoid'(z) with a * (1 - a)). The output layer is right; every hidden
layer's nablas are wrong.

What a checker should report first (backward order dW_L, db_L, ..., dW_1, db_1): dW_{L-1}.
Not detectable without a hidden layer (sizes of length 2).

Everything else is a copy of ``network.py`` (same class, interface, shapes and dtypes).
"""

import random

import numpy as np


class Network:

    def __init__(self, sizes):
        """``sizes`` lists the number of neurons per layer, e.g. [784, 30, 10]; weights and
        biases are drawn from N(0, 1); the input layer has no biases."""
        self.num_layers = len(sizes)
        self.sizes = sizes
        self.biases = [np.random.randn(y, 1) for y in sizes[1:]]
        self.weights = [np.random.randn(y, x) for x, y in zip(sizes[:-1], sizes[1:])]

    def feedforward(self, a):
        """The output of the network for input ``a`` (a column, or several columns)."""
        for b, w in zip(self.biases, self.weights):
            a = sigmoid(np.dot(w, a) + b)
        return a

    def SGD(self, training_data, epochs, mini_batch_size, eta, test_data=None):
        """Mini-batch stochastic gradient descent over a list of (x, y) pairs."""
        training_data = list(training_data)
        n = len(training_data)
        if test_data:
            test_data = list(test_data)
        for j in range(epochs):
            random.shuffle(training_data)
            mini_batches = [training_data[k:k + mini_batch_size] for k in range(0, n, mini_batch_size)]
            for mini_batch in mini_batches:
                self.update_mini_batch(mini_batch, eta)
            if test_data:
                print(f"Epoch {j}: {self.evaluate(test_data)} / {len(test_data)}")
            else:
                print(f"Epoch {j} complete")

    def update_mini_batch(self, mini_batch, eta):
        """One gradient step on the mean cost of ``mini_batch``, a list of (x, y) pairs."""
        nabla_b = [np.zeros(b.shape, dtype=b.dtype) for b in self.biases]
        nabla_w = [np.zeros(w.shape, dtype=w.dtype) for w in self.weights]
        for x, y in mini_batch:
            delta_nabla_b, delta_nabla_w = self.backprop(x, y)
            nabla_b = [nb + dnb for nb, dnb in zip(nabla_b, delta_nabla_b)]
            nabla_w = [nw + dnw for nw, dnw in zip(nabla_w, delta_nabla_w)]
        self.weights = [w - (eta / len(mini_batch)) * nw for w, nw in zip(self.weights, nabla_w)]
        self.biases = [b - (eta / len(mini_batch)) * nb for b, nb in zip(self.biases, nabla_b)]

    def backprop(self, x, y):
        """(nabla_b, nabla_w): the gradient of the cost of the one example (x, y), layer by
        layer, shaped like ``self.biases`` and ``self.weights``."""
        nabla_b = [np.zeros(b.shape, dtype=b.dtype) for b in self.biases]
        nabla_w = [np.zeros(w.shape, dtype=w.dtype) for w in self.weights]
        # feedforward, keeping every weighted input z and activation a
        activation = x
        activations = [x]
        zs = []
        for b, w in zip(self.biases, self.weights):
            z = np.dot(w, activation) + b
            zs.append(z)
            activation = sigmoid(z)
            activations.append(activation)
        # backward pass: the output error (BP1), then BP2 layer by layer
        delta = self.cost_derivative(activations[-1], y) * sigmoid_prime(zs[-1])
        nabla_b[-1] = delta
        nabla_w[-1] = np.dot(delta, activations[-2].transpose())
        # l = 1 is the last layer, l = 2 the one before it, and so on
        for l in range(2, self.num_layers):
            z = zs[-l]
            sp = sigmoid_prime(activations[-l])
            delta = np.dot(self.weights[-l + 1].transpose(), delta) * sp
            nabla_b[-l] = delta
            nabla_w[-l] = np.dot(delta, activations[-l - 1].transpose())
        return (nabla_b, nabla_w)

    def evaluate(self, test_data):
        """How many (x, y) of ``test_data`` (y an integer label) the network gets right."""
        test_results = [(np.argmax(self.feedforward(x)), y) for (x, y) in test_data]
        return sum(int(x == y) for (x, y) in test_results)

    def cost_derivative(self, output_activations, y):
        """dC/da of the quadratic cost 1/2 ||a - y||^2."""
        return output_activations - y


def sigmoid(z):
    """The sigmoid function."""
    return 1.0 / (1.0 + np.exp(-z))


def sigmoid_prime(z):
    """Derivative of the sigmoid function, at z."""
    return sigmoid(z) * (1 - sigmoid(z))

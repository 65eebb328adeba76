"""The improved network of Nielsen's "Neural Networks and Deep Learning", chapter 3
``network2.py`` (correct): a choice of cost, scaled initial weights, L2 regularisation in
the update step.

Layout and shapes as in ``network.py``: one example (x (n0, 1), y (nL, 1)) at a time, sigmoid
in every layer, ``weights[l]`` (n_{l+1}, n_l), ``biases[l]`` (n_{l+1}, 1).

Costs, for one example:

    QuadraticCost.fn(a, y)      = 1/2 ||a - y||^2
    QuadraticCost.delta(z,a,y)  = (a - y) * sigmoid'(z)
    CrossEntropyCost.fn(a, y)   = sum(-y ln a - (1 - y) ln(1 - a))
    CrossEntropyCost.delta(z,a,y) = a - y          (the sigmoid' cancels)

``backprop(x, y)`` returns the gradient of one example's cost (no 1/n, no regularisation);
``update_mini_batch`` sums them, divides by len(mini_batch) and adds the weight decay.
The nablas take the dtype of the parameters.
"""

import random

import numpy as np


class QuadraticCost:

    @staticmethod
    def fn(a, y):
        """The cost of output ``a`` against target ``y``."""
        return 0.5 * np.linalg.norm(a - y) ** 2

    @staticmethod
    def delta(z, a, y):
        """The error of the output layer, dC/dz."""
        return (a - y) * sigmoid_prime(z)


class CrossEntropyCost:

    @staticmethod
    def fn(a, y):
        """The cost of output ``a`` against target ``y``; nan_to_num turns the 0 * log(0) of a
        saturated but correct output into 0."""
        return np.sum(np.nan_to_num(-y * np.log(a) - (1 - y) * np.log(1 - a)))

    @staticmethod
    def delta(z, a, y):
        """The error of the output layer, dC/dz; ``z`` is unused, kept for the common interface."""
        return a - y


class Network:

    def __init__(self, sizes, cost=CrossEntropyCost):
        self.num_layers = len(sizes)
        self.sizes = sizes
        self.default_weight_initializer()
        self.cost = cost

    def default_weight_initializer(self):
        """Weights ~ N(0, 1/n_in), biases ~ N(0, 1)."""
        self.biases = [np.random.randn(y, 1) for y in self.sizes[1:]]
        self.weights = [np.random.randn(y, x) / np.sqrt(x) for x, y in zip(self.sizes[:-1], self.sizes[1:])]

    def large_weight_initializer(self):
        """Weights and biases ~ N(0, 1), as in network.py."""
        self.biases = [np.random.randn(y, 1) for y in self.sizes[1:]]
        self.weights = [np.random.randn(y, x) for x, y in zip(self.sizes[:-1], self.sizes[1:])]

    def feedforward(self, a):
        """The output of the network for input ``a``."""
        for b, w in zip(self.biases, self.weights):
            a = sigmoid(np.dot(w, a) + b)
        return a

    def SGD(self, training_data, epochs, mini_batch_size, eta, lmbda=0.0, evaluation_data=None):
        """Mini-batch stochastic gradient descent with L2 regularisation ``lmbda``."""
        training_data = list(training_data)
        n = len(training_data)
        for j in range(epochs):
            random.shuffle(training_data)
            mini_batches = [training_data[k:k + mini_batch_size] for k in range(0, n, mini_batch_size)]
            for mini_batch in mini_batches:
                self.update_mini_batch(mini_batch, eta, lmbda, n)
            if evaluation_data:
                print(f"Epoch {j}: {self.accuracy(evaluation_data)} / {len(evaluation_data)}")

    def update_mini_batch(self, mini_batch, eta, lmbda, n):
        """One step on the mean cost of ``mini_batch`` plus the L2 term; ``n`` is the size of
        the whole training set."""
        nabla_b = [np.zeros(b.shape, dtype=b.dtype) for b in self.biases]
        nabla_w = [np.zeros(w.shape, dtype=w.dtype) for w in self.weights]
        for x, y in mini_batch:
            delta_nabla_b, delta_nabla_w = self.backprop(x, y)
            nabla_b = [nb + dnb for nb, dnb in zip(nabla_b, delta_nabla_b)]
            nabla_w = [nw + dnw for nw, dnw in zip(nabla_w, delta_nabla_w)]
        self.weights = [(1 - eta * (lmbda / n)) * w - (eta / len(mini_batch)) * nw
                        for w, nw in zip(self.weights, nabla_w)]
        self.biases = [b - (eta / len(mini_batch)) * nb for b, nb in zip(self.biases, nabla_b)]

    def backprop(self, x, y):
        """(nabla_b, nabla_w): the gradient of ``self.cost`` for the one example (x, y)."""
        nabla_b = [np.zeros(b.shape, dtype=b.dtype) for b in self.biases]
        nabla_w = [np.zeros(w.shape, dtype=w.dtype) for w in self.weights]
        activation = x
        activations = [x]
        zs = []
        for b, w in zip(self.biases, self.weights):
            z = np.dot(w, activation) + b
            zs.append(z)
            activation = sigmoid(z)
            activations.append(activation)
        delta = (self.cost).delta(zs[-1], activations[-1], y)
        nabla_b[-1] = delta
        nabla_w[-1] = np.dot(delta, activations[-2].transpose())
        for l in range(2, self.num_layers):
            z = zs[-l]
            sp = sigmoid_prime(z)
            delta = np.dot(self.weights[-l + 1].transpose(), delta) * sp
            nabla_b[-l] = delta
            nabla_w[-l] = np.dot(delta, activations[-l - 1].transpose())
        return (nabla_b, nabla_w)

    def accuracy(self, data):
        """How many (x, y) of ``data`` (y an integer label) the network gets right."""
        results = [(np.argmax(self.feedforward(x)), y) for (x, y) in data]
        return sum(int(x == y) for (x, y) in results)

    def total_cost(self, data, lmbda):
        """The mean cost over ``data``, a list of (x, y) with y a column target, plus the L2 term."""
        cost = 0.0
        for x, y in data:
            a = self.feedforward(x)
            cost += self.cost.fn(a, y) / len(data)
        cost += 0.5 * (lmbda / len(data)) * sum(np.linalg.norm(w) ** 2 for w in self.weights)
        return cost


def sigmoid(z):
    """The sigmoid function."""
    return 1.0 / (1.0 + np.exp(-z))


def sigmoid_prime(z):
    """Derivative of the sigmoid function, at z."""
    return sigmoid(z) * (1 - sigmoid(z))

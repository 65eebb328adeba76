"""A deliberately wrong SUT with three independent bugs, for ``python -m crosscheck hunt``.

Everything else is the plain, correct backprop of ``mutants.base.Backprop`` (one method per step of
the derivation); three steps are wrong, each in cases of its own:

1. **sigmoid'** is taken at A, which is already sigmoid(Z): ``sigmoid(A) (1 - sigmoid(A))``. It shows
   at the dZ of every sigmoid layer.
2. **db of the output layer forgets the 1/m** with the ``half_sse`` loss under the mean reduction: that
   branch sums the unscaled delta (A - Y) over the examples. It shows at db_L, m times too large.
3. **dW comes back in float64 in float32 cases**: it is scaled by ``np.float64(1.0)``, and NumPy's
   promotion rules make a float32 array times a float64 scalar a float64 array. Its values are right;
   its dtype breaks the contract.

A run that stops at its first failure shows one of them; the hunt shows all three::

    python -m crosscheck hunt --sut examples/suts/three_bugs.py:backprop --budget 60s
"""

import numpy as np

from mutants.base import Backprop, sigmoid

__all__ = ["backprop"]


class ThreeBugs(Backprop):
    def act_prime(self, name, Z, A):
        if name == "sigmoid":
            return sigmoid(A) * (1 - sigmoid(A))  # BUG 1: A is already sigmoid(Z)
        return Backprop.act_prime(self, name, Z, A)

    def weight_grad(self, rows, A_prev, dZ):
        return Backprop.weight_grad(self, rows, A_prev, dZ) * np.float64(1.0)  # BUG 3: float32 becomes float64

    def finish(self, case, grads):
        L = len(case["activations"])
        if case["loss"] == "half_sse" and case["reduction"] == "mean":
            dZ = grads[f"dZ{L}"]
            m = dZ.shape[0 if case["layout"] == "rows" else 1]
            grads[f"db{L}"] = grads[f"db{L}"] * m  # BUG 2: db_L from the delta before its 1/m
        return grads


backprop = ThreeBugs()

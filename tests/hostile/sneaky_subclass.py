"""Answers are an ndarray subclass whose unpickling would run code: it must never reach the harness."""

import os

import numpy as np
from _base import correct


class Sneaky(np.ndarray):
    def __reduce__(self):
        return (os._exit, (0,))


def backprop(case, params, X, Y):
    out = correct(case, params, X, Y)
    return {k: v.view(Sneaky) if isinstance(v, np.ndarray) else v for k, v in out.items()}

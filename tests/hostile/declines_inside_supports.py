"""Declares float32 support, then declines float32 cases: that is no unsupported case."""

from _base import correct, victim

supports = {"dtypes": ["float64", "float32"]}


def backprop(case, params, X, Y):
    if victim(case):
        raise NotImplementedError("float32 later")
    return correct(case, params, X, Y)

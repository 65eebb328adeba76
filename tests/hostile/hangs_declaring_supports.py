"""Declares what it supports, then hangs on float32 cases (its process works while the oracles run)."""

from _base import correct, victim


def backprop(case, params, X, Y):
    while victim(case):
        pass
    return correct(case, params, X, Y)


backprop.supports = {"dtypes": ["float64", "float32"]}

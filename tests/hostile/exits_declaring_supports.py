"""Declares what it supports, then exits on float32 cases (its process works while the oracles run)."""

import os

from _base import correct, victim


def backprop(case, params, X, Y):
    if victim(case):
        os._exit(3)
    return correct(case, params, X, Y)


backprop.supports = {"dtypes": ["float64", "float32"]}

"""Forks a copy of its process on every call; the copy must not answer in the SUT's place."""

import os

from _base import correct


def backprop(case, params, X, Y):
    os.fork()
    return correct(case, params, X, Y)

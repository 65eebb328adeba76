"""Correct, and slow: 0.6 s a call."""

import time

from _base import correct


def backprop(case, params, X, Y):
    time.sleep(0.6)
    return correct(case, params, X, Y)

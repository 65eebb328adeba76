import sys

from _base import correct, victim


def backprop(case, params, X, Y):
    if victim(case):
        sys.exit(0)
    return correct(case, params, X, Y)

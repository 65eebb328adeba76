import os

from _base import correct, victim


def backprop(case, params, X, Y):
    if victim(case):
        os._exit(0)  # no cleanup, no exception: the process just ends, with status 0
    return correct(case, params, X, Y)

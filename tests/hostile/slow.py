import time

from _base import correct, victim


def backprop(case, params, X, Y):
    if victim(case):
        time.sleep(30)
    return correct(case, params, X, Y)

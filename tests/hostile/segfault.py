import ctypes

from _base import correct, victim


def backprop(case, params, X, Y):
    if victim(case):
        ctypes.string_at(0)  # reads address 0: SIGSEGV
    return correct(case, params, X, Y)

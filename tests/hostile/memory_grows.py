import numpy as np
from _base import correct, victim


def backprop(case, params, X, Y):
    if victim(case):
        hog = []
        while True:  # grows without end, never answers
            hog.append(np.ones(2**17))  # 1 MiB at a time, touched
    return correct(case, params, X, Y)

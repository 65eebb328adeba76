import numpy as np
from _base import correct, victim


def backprop(case, params, X, Y):
    if victim(case):
        hog = np.ones((64, 2**20))  # 512 MiB, touched
        return {"loss": float(hog.sum())}
    return correct(case, params, X, Y)

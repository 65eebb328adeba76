from _base import correct, victim


def backprop(case, params, X, Y):
    while victim(case):
        pass
    return correct(case, params, X, Y)

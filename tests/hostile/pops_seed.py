from _base import correct, victim


def backprop(case, params, X, Y):
    if victim(case):
        case.pop("seed", None)
    return correct(case, params, X, Y)

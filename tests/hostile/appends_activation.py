from _base import correct, victim


def backprop(case, params, X, Y):
    out = correct(case, params, X, Y)
    if victim(case):
        case["activations"].append("relu")
    return out

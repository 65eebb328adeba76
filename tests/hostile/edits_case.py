from _base import correct, victim


def backprop(case, params, X, Y):
    if victim(case):
        case["dtype"] = "float64"  # "I only do float64"
        return correct(case, params, X.astype("float64"), Y.astype("float64"))
    return correct(case, params, X, Y)

from _base import correct

supports = {"dtypes": []}


def backprop(case, params, X, Y):
    return correct(case, params, X, Y)

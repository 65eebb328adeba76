"""Right on every second call, nothing on the others: the first of the two answers is checked too."""

from _base import correct

_calls = [0]


def backprop(case, params, X, Y):
    _calls[0] += 1
    if _calls[0] % 2:
        return None
    return correct(case, params, X, Y)

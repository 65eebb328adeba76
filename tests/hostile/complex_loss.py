from _base import correct, victim


def backprop(case, params, X, Y):
    out = correct(case, params, X, Y)
    if victim(case):
        out["loss"] = complex(out["loss"], 5.0)
    return out

def backprop(case, params, X, Y):
    raise NotImplementedError("not written yet")

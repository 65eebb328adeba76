import a_module_that_does_not_exist  # noqa: F401


def backprop(case, params, X, Y):
    return {}

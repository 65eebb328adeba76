"""A network of one fixed shape, declared honestly: relu hidden layers, one sigmoid output unit,
binary cross-entropy, examples as columns (the course's binary classifier).

Contract 1.1's ``supports`` says so, and every generated case stays inside it: no case is
unsupported. Outside it the function refuses, as a real restricted implementation would.

    python -m crosscheck check --sut examples/suts/relu_sigmoid_bce.py:backprop
"""

import numpy as np

supports = {"hidden_activations": ["relu"], "output_activations": ["sigmoid"], "losses": ["bce"],
            "layouts": ["columns"], "output_units": [1]}


def backprop(case, params, X, Y):
    acts = case["activations"]
    if (case["layout"] != "columns" or case["loss"] != "bce" or acts[-1] != "sigmoid"
            or set(acts[:-1]) - {"relu"} or case["sizes"][-1] != 1):
        raise NotImplementedError("relu hidden layers, one sigmoid output, bce, columns only")
    L, m = len(acts), X.shape[1]
    r = 1 / m if case["reduction"] == "mean" else 1
    A, Z = [X], [None]
    for l in range(1, L + 1):
        Z.append(params[f"W{l}"] @ A[-1] + params[f"b{l}"])
        if l < L:
            A.append(np.maximum(Z[l], 0))
        else:
            e = np.exp(-np.abs(Z[l]))
            A.append(np.where(Z[l] >= 0, 1 / (1 + e), e / (1 + e)))
    AL = A[L]
    loss = -np.sum(Y * np.log(AL) + (1 - Y) * np.log(1 - AL)) * r
    out = {"loss": float(loss)}
    dZ = (AL - Y) * np.asarray(r, X.dtype)  # sigmoid + bce: dZ_L = r (A_L - Y)
    for l in range(L, 0, -1):
        out[f"dZ{l}"] = dZ
        out[f"dW{l}"] = dZ @ A[l - 1].T
        out[f"db{l}"] = dZ.sum(axis=1, keepdims=True)
        dA = params[f"W{l}"].T @ dZ
        if l > 1:
            dZ = dA * (Z[l - 1] > 0)
    out["dA0"] = dA
    return out

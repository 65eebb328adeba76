"""Golden cases: the reference implementation reproduces the classic derivations.

Each test takes one lesson's formulas (or published figures) as they are taught and checks
``reference_impl`` against them. The lesson's per-example deltas carry no 1/m; the contract's
``dZ{l}`` is dJ/dZ_l, so with reduction "mean" it is the lesson's delta divided by m.
"""

import numpy as np
import pytest

import reference_impl
from crosscheck import contract, problems
from crosscheck.assertions import assert_gradients_agree, assert_published

# ---------------------------------------------------------------------------
# Mazur's 2-2-2 worked example
# Source: Matt Mazur, "A Step by Step Backpropagation Example" (2015). Figures copied exactly as
# printed there (recorded in the project's shared golden file mazur_2-2-2.json).
# ---------------------------------------------------------------------------

MAZUR_INPUTS = {"i1": 0.05, "i2": 0.10}
MAZUR_TARGETS = {"o1": 0.01, "o2": 0.99}
MAZUR_WEIGHTS = {"w1": 0.15, "w2": 0.20, "w3": 0.25, "w4": 0.30,
                 "w5": 0.40, "w6": 0.45, "w7": 0.50, "w8": 0.55}
MAZUR_BIASES = {"b1": 0.35, "b2": 0.60}  # each shared by both units of its layer
# his weight name -> (layer, source unit, destination unit)
MAZUR_EDGES = {"w1": (1, 0, 0), "w2": (1, 1, 0), "w3": (1, 0, 1), "w4": (1, 1, 1),
               "w5": (2, 0, 0), "w6": (2, 1, 0), "w7": (2, 0, 1), "w8": (2, 1, 1)}
MAZUR_FORWARD = {"net_h1": "0.3775", "out_h1": "0.593269992", "out_h2": "0.596884378",
                 "net_o1": "1.105905967", "out_o1": "0.75136507", "out_o2": "0.772928465"}
MAZUR_E_TOTAL = "0.298371109"
MAZUR_GRADIENTS = {"w5": "0.082167041", "w1": "0.000438568"}
MAZUR_AFTER_ONE_STEP = {"w1": "0.149780716", "w2": "0.19956143", "w3": "0.24975114", "w4": "0.29950229",
                        "w5": "0.35891648", "w6": "0.408666186", "w7": "0.511301270", "w8": "0.561370121"}
MAZUR_LR = 0.5


def _edge(layout, W, name):
    """Mazur's weight ``name`` inside W: W[src, dst] in rows layout, W[dst, src] in columns."""
    _, src, dst = MAZUR_EDGES[name]
    return W[src, dst] if layout == "rows" else W[dst, src]


def _mazur(layout, reduction="mean"):
    """Case, params, X, Y of Mazur's network in ``layout`` (float64, one example)."""
    case = {"sizes": [2, 2, 2], "activations": ["sigmoid", "sigmoid"], "loss": "half_sse",
            "layout": layout, "dtype": "float64", "reduction": reduction}
    rows = {f"W{l}": np.zeros((2, 2)) for l in (1, 2)}
    for name, (l, src, dst) in MAZUR_EDGES.items():
        rows[f"W{l}"][src, dst] = MAZUR_WEIGHTS[name]
    rows["b1"] = np.full((1, 2), MAZUR_BIASES["b1"])
    rows["b2"] = np.full((1, 2), MAZUR_BIASES["b2"])
    rows["X"] = np.array([[MAZUR_INPUTS["i1"], MAZUR_INPUTS["i2"]]])
    rows["Y"] = np.array([[MAZUR_TARGETS["o1"], MAZUR_TARGETS["o2"]]])
    arrays = contract.from_rows(case, rows)
    X, Y = arrays.pop("X"), arrays.pop("Y")
    return case, arrays, X, Y


@pytest.mark.parametrize("layout", contract.LAYOUTS)
def test_mazur_forward_pass(layout):
    """``forward`` reproduces Mazur's net and out values of the hidden and output units."""
    case, params, X, _ = _mazur(layout)
    Z, A = reference_impl.forward(case, params, X)
    Z1, A1, Z2, A2 = (t if layout == "rows" else t.T for t in (Z[1], A[1], Z[2], A[2]))  # example 0 is row 0
    computed = {"net_h1": Z1[0, 0], "out_h1": A1[0, 0], "out_h2": A1[0, 1],
                "net_o1": Z2[0, 0], "out_o1": A2[0, 0], "out_o2": A2[0, 1]}
    for name, published in MAZUR_FORWARD.items():
        assert_published(computed[name], published, what=f"Mazur {name} ({layout})")


@pytest.mark.parametrize("reduction", contract.REDUCTIONS)  # one example: mean == sum
@pytest.mark.parametrize("layout", contract.LAYOUTS)
def test_mazur_total_error_and_gradients(layout, reduction):
    """``backprop`` gives Mazur's E_total, dE/dw5 and dE/dw1, whichever layout and reduction."""
    case, params, X, Y = _mazur(layout, reduction)
    grads = reference_impl.backprop(case, params, X, Y)
    assert_published(grads["loss"], MAZUR_E_TOTAL, what=f"Mazur E_total ({layout}, {reduction})")
    for name, published in MAZUR_GRADIENTS.items():
        layer = MAZUR_EDGES[name][0]
        assert_published(_edge(layout, grads[f"dW{layer}"], name), published,
                         what=f"Mazur dE/d{name} ({layout}, {reduction})")


@pytest.mark.parametrize("layout", contract.LAYOUTS)
def test_mazur_weights_after_one_sgd_step(layout):
    """One ``sgd_step`` at lr 0.5 gives Mazur's updated w1..w8 (he leaves the biases alone)."""
    case, params, X, Y = _mazur(layout)
    grads = reference_impl.backprop(case, params, X, Y)
    updated = reference_impl.sgd_step(params, grads, MAZUR_LR)
    for name, published in MAZUR_AFTER_ONE_STEP.items():
        layer = MAZUR_EDGES[name][0]
        assert_published(_edge(layout, updated[f"W{layer}"], name), published,
                         what=f"Mazur {name} after one step ({layout})")


# ---------------------------------------------------------------------------
# Andrew Ng, Deep Learning Specialization (course 1): examples as columns, sigmoid + bce output.
# ---------------------------------------------------------------------------

def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


def _as64(problem):
    """The problem's params, X and Y in float64: exactly the values the SUT sees."""
    p = {k: v.astype(np.float64) for k, v in problem.params.items()}
    return p, problem.X.astype(np.float64), problem.Y.astype(np.float64)


def _bce(A, Y):
    m = Y.shape[1]
    return float(-(Y * np.log(A) + (1 - Y) * np.log(1 - A)).sum() / m)


@pytest.mark.parametrize("dtype", contract.DTYPES)
def test_ng_logistic_regression(dtype):
    """One sigmoid unit with bce: dz = a - y, dw = (1/m) x dzᵀ, db = (1/m) Σ dz (Ng, course 1 week 2)."""
    problem = problems.build({"sizes": [4, 1], "activations": ["sigmoid"], "loss": "bce", "layout": "columns",
                              "dtype": dtype, "reduction": "mean", "batch": 6, "seed": 11, "scale": "unit"})
    p, X, Y = _as64(problem)
    m = X.shape[1]
    w = p["W1"].T                      # Ng's w is a column (n_x, 1); the contract's W1 is its transpose
    a = _sigmoid(w.T @ X + p["b1"])
    dz = a - Y
    dw = (1 / m) * X @ dz.T
    db = (1 / m) * dz.sum()
    expected = {"loss": _bce(a, Y), "dZ1": dz / m, "dW1": dw.T, "db1": np.array([[db]])}
    actual = reference_impl.backprop(problem.case, problem.params, problem.X, problem.Y)
    assert_gradients_agree(problem, actual, expected, actual_dtype=dtype, expected_dtype="float64")


@pytest.mark.parametrize("dtype", contract.DTYPES)
def test_ng_one_hidden_layer(dtype):
    """Ng's planar-data network (tanh hidden, sigmoid output, bce): his six backward equations hold.

    dZ2 = A2 - Y, dW2 = (1/m) dZ2 A1ᵀ, db2 = (1/m) Σ dZ2, dZ1 = W2ᵀ dZ2 ⊙ (1 - A1²),
    dW1 = (1/m) dZ1 Xᵀ, db1 = (1/m) Σ dZ1 (course 1 week 3).
    """
    problem = problems.build({"sizes": [2, 4, 1], "activations": ["tanh", "sigmoid"], "loss": "bce",
                              "layout": "columns", "dtype": dtype, "reduction": "mean", "batch": 8, "seed": 3,
                              "scale": "unit"})
    p, X, Y = _as64(problem)
    m = X.shape[1]
    A1 = np.tanh(p["W1"] @ X + p["b1"])
    A2 = _sigmoid(p["W2"] @ A1 + p["b2"])
    dZ2 = A2 - Y
    dW2 = (1 / m) * dZ2 @ A1.T
    db2 = (1 / m) * np.sum(dZ2, axis=1, keepdims=True)
    dZ1 = p["W2"].T @ dZ2 * (1 - A1**2)
    dW1 = (1 / m) * dZ1 @ X.T
    db1 = (1 / m) * np.sum(dZ1, axis=1, keepdims=True)
    expected = {"loss": _bce(A2, Y), "dZ2": dZ2 / m, "dW2": dW2, "db2": db2,
                "dZ1": dZ1 / m, "dW1": dW1, "db1": db1}
    actual = reference_impl.backprop(problem.case, problem.params, problem.X, problem.Y)
    assert_gradients_agree(problem, actual, expected, actual_dtype=dtype, expected_dtype="float64")


# ---------------------------------------------------------------------------
# Aladdin Persson, "Neural Network from scratch - Part 3": examples as rows, ReLU then softmax.
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", contract.DTYPES)
def test_persson_relu_softmax(dtype):
    """Persson's 2-layer net: dZ2 = (softmax - onehot)/m, dW2 = A1ᵀ dZ2, db2 = Σ_examples dZ2 (1, n2),
    dZ1 = dZ2 W2ᵀ ⊙ [Z1 > 0], dW1 = Xᵀ dZ1."""
    problem = problems.build({"sizes": [5, 6, 4], "activations": ["relu", "softmax"], "loss": "cross_entropy",
                              "layout": "rows", "dtype": dtype, "reduction": "mean", "batch": 7, "seed": 5,
                              "scale": "unit"})
    p, X, Y = _as64(problem)
    m = X.shape[0]
    Z1 = X @ p["W1"] + p["b1"]
    A1 = np.maximum(Z1, 0)
    Z2 = A1 @ p["W2"] + p["b2"]
    e = np.exp(Z2 - Z2.max(axis=1, keepdims=True))
    softmax = e / e.sum(axis=1, keepdims=True)
    dZ2 = (softmax - Y) / m
    dZ1 = dZ2 @ p["W2"].T * (Z1 > 0)
    expected = {"loss": float(-(Y * np.log(softmax)).sum() / m),
                "dZ2": dZ2, "dW2": A1.T @ dZ2, "db2": dZ2.sum(axis=0, keepdims=True),
                "dZ1": dZ1, "dW1": X.T @ dZ1, "db1": dZ1.sum(axis=0, keepdims=True)}
    actual = reference_impl.backprop(problem.case, problem.params, problem.X, problem.Y)
    assert expected["db2"].shape == (1, 4)
    assert_gradients_agree(problem, actual, expected, actual_dtype=dtype, expected_dtype="float64")


# ---------------------------------------------------------------------------
# Professor Bryce, "Neural Network Backpropagation (DL 08)": the data-set derivative is the average of
# the per-example derivatives, each from its own backward pass.
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("layout", contract.LAYOUTS)
def test_bryce_per_example_deltas_average_to_the_batch_gradient(layout):
    """Backprop one example at a time (reduction 'sum'), average over the batch: the mean-reduction result."""
    problem = problems.build({"sizes": [3, 5, 2], "activations": ["sigmoid", "sigmoid"], "loss": "sse",
                              "layout": layout, "dtype": "float64", "reduction": "mean", "batch": 6, "seed": 8,
                              "scale": "unit"})
    case, X, Y = problem.case, problem.X, problem.Y
    axis = 0 if layout == "rows" else 1   # the examples axis
    m = X.shape[axis]
    one = {**case, "reduction": "sum"}
    per_example = [reference_impl.backprop(one, problem.params, X.take([i], axis), Y.take([i], axis))
                   for i in range(m)]
    expected = {"loss": sum(g["loss"] for g in per_example) / m}
    for key in per_example[0]:
        if key.startswith(("dW", "db")):           # parameters: average the per-example gradients
            expected[key] = sum(g[key] for g in per_example) / m
        elif key != "loss":                        # per-example tensors: each example's slice, scaled by 1/m
            expected[key] = np.concatenate([g[key] for g in per_example], axis=axis) / m
    actual = reference_impl.backprop(case, problem.params, X, Y)
    assert set(expected) >= {"loss", "dW1", "db1", "dZ1", "dW2", "db2", "dZ2"}
    assert_gradients_agree(problem, actual, expected, actual_dtype="float64", expected_dtype="float64")


# ---------------------------------------------------------------------------
# deeplizard, "Backpropagation explained | Part 5": dL/da_k^{L-1} = Σ_j dL/da_j^L g'(z_j^L) w_jk^L,
# with w_jk the weight from node k in layer L-1 to node j in layer L, and L the sum of squared errors.
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("layout", contract.LAYOUTS)
def test_deeplizard_recursion_by_explicit_loops(layout):
    """The explicit double sum over output nodes j gives the dA entering layer L-1 (= dZ1, layer 1 identity)."""
    problem = problems.build({"sizes": [3, 4, 3], "activations": ["identity", "sigmoid"], "loss": "sse",
                              "layout": layout, "dtype": "float64", "reduction": "mean", "batch": 5, "seed": 2,
                              "scale": "unit"})
    case = problem.case
    t = contract.to_rows(case, {**problem.params, "X": problem.X, "Y": problem.Y})  # loops index rows
    m, n_prev, n_out = t["X"].shape[0], case["sizes"][1], case["sizes"][2]
    a_prev = t["X"] @ t["W1"] + t["b1"]           # identity layer L-1: its output is its input sum
    z = a_prev @ t["W2"] + t["b2"]
    a = _sigmoid(z)
    dZ2 = np.zeros((m, n_out))
    dA1 = np.zeros((m, n_prev))
    for i in range(m):
        for j in range(n_out):
            dL_da_j = 2 * (a[i, j] - t["Y"][i, j]) / m         # J = (1/m) Σ_i Σ_j (a_j - y_j)²
            dZ2[i, j] = dL_da_j * a[i, j] * (1 - a[i, j])     # sigmoid' = a (1 - a)
        for k in range(n_prev):
            dA1[i, k] = sum(dZ2[i, j] * t["W2"][k, j] for j in range(n_out))  # rows W2[k, j] is w_jk
    expected = contract.from_rows(case, {"dZ2": dZ2, "dZ1": dA1})
    actual = reference_impl.backprop(case, problem.params, problem.X, problem.Y)
    assert_gradients_agree(problem, actual, expected, actual_dtype="float64", expected_dtype="float64",
                           keys=["dZ2", "dZ1"])

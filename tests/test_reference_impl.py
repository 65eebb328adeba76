"""The reference implementation's own promises: fused shortcuts, dtypes, kink conventions, the SGD step
and its error messages."""

import re

import numpy as np
import pytest

import reference_impl
from crosscheck import activations, contract, losses, problems, tolerance
from crosscheck.assertions import assert_gradients_agree


def _case(**overrides):
    """A small generated case (float64, rows, mean), with ``overrides`` applied."""
    case = {"sizes": [3, 4, 3], "activations": ["tanh", "identity"], "loss": "half_sse", "layout": "rows",
            "dtype": "float64", "reduction": "mean", "batch": 5, "seed": 7, "scale": "unit"}
    return {**case, **overrides}


def _run(problem, **kwargs):
    return reference_impl.backprop(problem.case, problem.params, problem.X, problem.Y, **kwargs)


# ---------------------------------------------------------------------------
# Fused shortcuts
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("reduction", contract.REDUCTIONS)
@pytest.mark.parametrize("dtype", contract.DTYPES)
@pytest.mark.parametrize("layout", contract.LAYOUTS)
@pytest.mark.parametrize("output, loss", [("softmax", "cross_entropy"), ("sigmoid", "bce")])
def test_fused_shortcut_equals_general_chain(output, loss, layout, dtype, reduction):
    """dZ_L = r (A_L - Y) gives the same gradients as dA_L = r loss'(A_L) pushed through g_L'."""
    problem = problems.build(_case(activations=["tanh", output], loss=loss, layout=layout, dtype=dtype,
                                   reduction=reduction))
    fused, general = _run(problem, fused=True), _run(problem, fused=False)
    assert_gradients_agree(problem, fused, general, actual_dtype=dtype, expected_dtype=dtype)


# ---------------------------------------------------------------------------
# float32 cases stay in float32
# ---------------------------------------------------------------------------

def _assert_all_float32(case, grads, m):
    for key in contract.gradient_shapes(case, m):
        assert key in grads, f"{key} missing from the answer"
        assert grads[key].dtype == np.float32, f"{key} has dtype {grads[key].dtype}, expected float32"


@pytest.mark.parametrize("name", activations.NAMES)
def test_float32_case_gives_float32_gradients_for_every_activation(name):
    """Every gradient of a float32 case is float32, with ``name`` as hidden and as output activation."""
    problem = problems.build(_case(activations=[name, name], dtype="float32"))
    _assert_all_float32(problem.case, _run(problem), problem.case["batch"])


@pytest.mark.parametrize("name", losses.NAMES)
def test_float32_case_gives_float32_gradients_for_every_loss(name):
    """Every gradient of a float32 case is float32 for loss ``name`` (with an output it is defined for)."""
    outputs = losses.LOSSES[name].outputs
    problem = problems.build(_case(activations=["tanh", outputs[0] if outputs else "identity"], loss=name,
                                   dtype="float32"))
    _assert_all_float32(problem.case, _run(problem), problem.case["batch"])


# ---------------------------------------------------------------------------
# Kinks: the derivative chosen at exactly z = 0
# ---------------------------------------------------------------------------

def _zero_preactivation_grads(hidden, layout):
    """Backprop where every hidden pre-activation is exactly 0 (W1 = 0, b1 = 0): grads and params."""
    case = {"sizes": [2, 3, 2], "activations": [hidden, "identity"], "loss": "half_sse", "layout": layout,
            "dtype": "float64", "reduction": "mean"}
    rows = {"W1": np.zeros((2, 3)), "b1": np.zeros((1, 3)),
            "W2": np.array([[0.5, -1.0], [2.0, 0.25], [-0.75, 1.5]]), "b2": np.array([[0.1, -0.2]]),
            "X": np.array([[1.0, -2.0], [0.5, 3.0]]), "Y": np.array([[1.0, 0.0], [0.0, 1.0]])}
    t = contract.from_rows(case, rows)
    X, Y = t.pop("X"), t.pop("Y")
    return case, t, reference_impl.backprop(case, t, X, Y)


def _dA1(layout, params, grads):
    """dJ/dA1 from the output layer: dZ2 W2ᵀ (rows) or W2ᵀ dZ2 (columns)."""
    return grads["dZ2"] @ params["W2"].T if layout == "rows" else params["W2"].T @ grads["dZ2"]


@pytest.mark.parametrize("layout", contract.LAYOUTS)
@pytest.mark.parametrize("name, slope", [("relu", 0.0), ("leaky_relu", 1.0), ("elu", 1.0)])
def test_derivative_at_exactly_zero_follows_the_contract(name, slope, layout):
    """relu'(0) = 0; leaky_relu'(0) = 1 (not 0.01); elu'(0) = 1 (e^0 from the left, 1 from the right).

    With Z1 exactly 0 (zero weights and bias) and dA1 nonzero, dZ1 is exactly slope * dA1.
    """
    case, params, grads = _zero_preactivation_grads(name, layout)
    dA1 = _dA1(layout, params, grads)
    assert np.all(dA1 != 0)
    assert np.array_equal(grads["dZ1"], slope * dA1)


def test_hinge_derivative_is_zero_at_a_margin_of_exactly_zero():
    """max(0, x)' = 0 at x = 0, as for relu: a wrong class exactly 1 below the target adds nothing."""
    from reference_impl.losses import LOSSES
    _, grad = LOSSES["hinge"]
    A = np.array([[2.0, 1.0, -5.0]])   # class 1's margin a_1 - a_0 + 1 is exactly 0
    Y = np.array([[1.0, 0.0, 0.0]])
    assert grad(A, Y, 1).tolist() == [[0.0, 0.0, 0.0]]


def test_backward_takes_the_fused_shortcut_by_default():
    """``backward`` on its own, like ``backprop``, uses dZ_L = r (A_L - Y) where it holds."""
    problem = problems.build(_case(activations=["tanh", "softmax"], loss="cross_entropy"))
    Z, A = reference_impl.forward(problem.case, problem.params, problem.X)
    grads = reference_impl.backward(problem.case, problem.params, problem.Y, Z, A)
    assert np.array_equal(grads["dZ2"], (1 / problem.case["batch"]) * (A[-1] - problem.Y))


# ---------------------------------------------------------------------------
# sgd_step against torch.optim.SGD
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", contract.DTYPES)
def test_sgd_step_matches_torch_sgd(dtype):
    """One ``sgd_step`` (lr 0.1) equals one step of ``torch.optim.SGD`` fed the same gradients.

    Both compute W - lr dW, but torch fuses the multiply-add (one rounding where NumPy has two), so they
    are held to the error model's rule for two computations of one formula: the update's first-order
    rounding scale is |W| + 2 lr |dW| (the product, then the difference), in units of u.
    """
    torch = pytest.importorskip("torch", reason="torch is needed to compare with torch.optim.SGD")
    lr = 0.1
    problem = problems.build(_case(sizes=[3, 4, 2], activations=["tanh", "sigmoid"], loss="bce", dtype=dtype))
    grads = _run(problem)
    ours = reference_impl.sgd_step(problem.params, grads, lr)
    # rows layout: W is (n_in, n_out) as is, so it goes to torch untransposed
    tensors = {name: torch.nn.Parameter(torch.from_numpy(value.copy())) for name, value in problem.params.items()}
    for name, p in tensors.items():
        p.grad = torch.from_numpy(grads[f"d{name}"].copy())
    torch.optim.SGD(list(tensors.values()), lr=lr, momentum=0).step()
    assert set(ours) == set(tensors)
    for name, p in tensors.items():
        theirs = p.detach().numpy()
        assert ours[name].dtype == theirs.dtype == np.dtype(dtype)
        S = tolerance.sgd_update_bounds(problem.params[name], grads[f"d{name}"], lr)
        allowed = tolerance.allowed(S, dtype, dtype)
        diff = np.abs(ours[name].astype(np.float64) - theirs.astype(np.float64))
        assert np.all(diff <= allowed), (f"{name}: sgd_step differs from torch.optim.SGD by up to "
                                         f"{diff.max():.3g} (allowed {allowed[np.argmax(diff)]:.3g})")
        assert not np.array_equal(theirs, problem.params[name]), f"{name} did not move"


# ---------------------------------------------------------------------------
# Errors that say what is wrong
# ---------------------------------------------------------------------------

def _lists(message, names):
    """True when every name appears in ``message`` as a whole word ('bce' not just inside 'bce_with_logits')."""
    return all(re.search(rf"(?<!\w){re.escape(n)}(?!\w)", message) for n in names)


def _with_bad_name(**overrides):
    """A valid problem's arrays with ``overrides`` applied to its case afterwards."""
    problem = problems.build(_case())
    return {**problem.case, **overrides}, problem.params, problem.X, problem.Y


@pytest.mark.parametrize("key, bad, valid", [
    ("activations", ["tanh", "swish"], activations.NAMES),
    ("loss", "hubr", losses.NAMES),
    ("layout", "diagonal", contract.LAYOUTS),
    ("reduction", "median", contract.REDUCTIONS),
], ids=["activation", "loss", "layout", "reduction"])
def test_unknown_name_raises_value_error_listing_valid_names(key, bad, valid):
    """An unknown activation, loss, layout or reduction is a ValueError naming it and every valid name."""
    case, params, X, Y = _with_bad_name(**{key: bad})
    bad_name = bad[-1] if key == "activations" else bad
    with pytest.raises(ValueError) as info:
        reference_impl.backprop(case, params, X, Y)
    message = str(info.value)
    assert repr(bad_name) in message, message
    assert _lists(message, valid), f"not every valid name is listed: {message}"


@pytest.mark.parametrize("layout", contract.LAYOUTS)
def test_wrong_shaped_W2_raises_value_error_with_both_shapes(layout):
    """A W2 of the wrong shape (transposed) is a ValueError naming W2, its shape and the expected one."""
    problem = problems.build(_case(layout=layout))
    expected = problem.params["W2"].shape
    params = {**problem.params, "W2": problem.params["W2"].T}
    with pytest.raises(ValueError) as info:
        reference_impl.backprop(problem.case, params, problem.X, problem.Y)
    message = str(info.value)
    assert "W2" in message and str(params["W2"].shape) in message and str(expected) in message, message


@pytest.mark.parametrize("layout", contract.LAYOUTS)
def test_wrong_shaped_X_raises_value_error_with_both_shapes(layout):
    """An X with one input feature too many is a ValueError naming X, its shape and the expected one."""
    problem = problems.build(_case(layout=layout))
    m, n0 = problem.case["batch"], problem.case["sizes"][0]
    expected = (m, n0) if layout == "rows" else (n0, m)
    X = np.ones((m, n0 + 1) if layout == "rows" else (n0 + 1, m))
    with pytest.raises(ValueError) as info:
        reference_impl.backprop(problem.case, problem.params, X, problem.Y)
    message = str(info.value)
    assert re.search(r"(?<!\w)X(?!\w)", message) and str(X.shape) in message and str(expected) in message, message


def test_missing_b1_raises_key_error_naming_it():
    """params without b1 is a KeyError that names 'b1'."""
    problem = problems.build(_case())
    params = {k: v for k, v in problem.params.items() if k != "b1"}
    with pytest.raises(KeyError) as info:
        reference_impl.backprop(problem.case, params, problem.X, problem.Y)
    assert "'b1'" in info.value.args[0]


@pytest.mark.parametrize("shape", [(5,), (5, 3, 1)])
def test_an_X_that_is_not_2d_is_named(shape):
    problem = problems.build(_case())
    with pytest.raises(ValueError, match=rf"X must be 2-D, got shape \({shape[0]},"):
        reference_impl.backprop(problem.case, problem.params, np.zeros(shape), problem.Y)


@pytest.mark.parametrize("extra", ["W3", "W0"])
def test_an_extra_parameter_is_named(extra):
    problem = problems.build(_case())
    params = {**problem.params, extra: problem.params["W2"]}
    with pytest.raises(KeyError, match=rf"params has unexpected keys \['{extra}'\] for 2 layers"):
        reference_impl.backprop(problem.case, params, problem.X, problem.Y)


@pytest.mark.parametrize("names", [["tanh"], ["tanh", "identity", "relu"]])
def test_one_activation_per_layer_is_required(names):
    problem = problems.build(_case())
    case = {**problem.case, "activations": names}
    with pytest.raises(ValueError, match=f"activations has {len(names)} names for 2 layers"):
        reference_impl.backprop(case, problem.params, problem.X, problem.Y)


@pytest.mark.parametrize("layout", contract.LAYOUTS)
@pytest.mark.parametrize("output, loss", [("softmax", "cross_entropy"), ("sigmoid", "bce")])
def test_the_fused_shortcut_is_taken_where_it_holds(output, loss, layout):
    """With fusion on, dZ_L is exactly r (A_L - Y): the shortcut is used, not just matched."""
    problem = problems.build(_case(activations=["tanh", output], loss=loss, layout=layout))
    Z, A = reference_impl.forward(problem.case, problem.params, problem.X)
    m = problem.case["batch"]
    assert np.array_equal(_run(problem)["dZ2"], (1 / m) * (A[-1] - problem.Y))


@pytest.mark.parametrize("dtype", contract.DTYPES)
def test_sigmoid_never_overflows(dtype):
    """Each side of 0 uses the exp that cannot overflow, so even z = ±1000 raises nothing."""
    from reference_impl.activations import sigmoid
    with np.errstate(over="raise"):
        out = sigmoid(np.array([[-1000.0, 0.0, 1000.0]], dtype=dtype))
    assert out.tolist() == [[0.0, 0.5, 1.0]]


@pytest.mark.parametrize("dtype", contract.DTYPES)
def test_softmax_cross_entropy_is_finite_for_huge_logits(dtype):
    """The log-softmax subtracts the largest logit first: logits of 1000 still give the exact loss."""
    from reference_impl.losses import LOSSES
    loss, _ = LOSSES["softmax_cross_entropy"]
    A = np.array([[1000.0, 0.0]], dtype=dtype)
    Y = np.array([[0.0, 1.0]], dtype=dtype)
    with np.errstate(over="raise", invalid="raise"):
        assert loss(A, Y, 1).tolist() == [1000.0]

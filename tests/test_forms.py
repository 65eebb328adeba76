"""Correct textbook forms must pass: the catalogue (examples/forms/) and cases where the oracles' own
correct arithmetic differs (a flush to zero).
"""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

import reference_impl
from crosscheck import activations, check, contract, losses, problems, tolerance
from crosscheck import strategies as cs
from crosscheck.sut import Sut, load
from examples.forms import catalogue, composites
from reference_impl import activations as reference_activations

REFERENCE = Sut("reference_impl:backprop", reference_impl.backprop, reference_impl.supports)

COMPOSITES = [f"examples.forms.composites:backprop_{c.lower()}" for c in composites.COMPOSITES]


@pytest.mark.forms
@pytest.mark.parametrize("layout", contract.LAYOUTS)
@pytest.mark.parametrize("dtype", contract.DTYPES)
@pytest.mark.parametrize("spec", COMPOSITES)
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_composite_of_correct_forms_passes(spec, dtype, layout, crosscheck, loaded, data):
    sut = loaded(spec)
    crosscheck(data.draw(cs.problems(sut.supports, dtypes=(dtype,), layouts=(layout,)), label="problem"), sut)


# JAX flushes a subnormal dZ3 entry (torch: -1.477e-308) to -0: each side of dZ's own product may
# flush to zero, however small the factors are.
FLUSHED_SOFTMAX_DZ = {"activations": ["identity", "identity", "softmax"], "batch": 4, "contract_version": "1.0",
                      "dtype": "float64", "layout": "rows", "loss": "mse", "reduction": "mean", "scale": "large",
                      "seed": 1, "sizes": [17, 37, 17, 62]}


def test_a_flushed_subnormal_in_softmax_backward_is_no_disagreement():
    result = check.check(problems.build(FLUSHED_SOFTMAX_DZ), REFERENCE, ["torch", "jax", "fd"])
    pairs = {c.against for c in result.oracle_pairs}
    assert pairs == {"torch~jax", "torch~fd", "jax~fd"}
    assert all(c.passed for c in result.oracle_pairs), result.message()
    assert result.verdict == "pass", result.message()
    assert all(result.oracles[name]["ran"] for name in ("torch", "jax", "fd"))


@pytest.mark.parametrize("pair", [("jax", "fd"), ("torch", "jax")])
def test_the_flushed_case_passes_under_each_pair_of_oracles_alone(pair):
    result = check.check(problems.build(FLUSHED_SOFTMAX_DZ), REFERENCE, list(pair))
    assert result.verdict == "pass", result.message()


# ---------------------------------------------------------------------------------------------
# Every form in the catalogue equals the harness's definition, within what the error model allows
# that formula (tolerance.py's stage functions, with exact inputs): a "correct form" really is
# correct, and the model really covers it, in float64 and in float32.
# ---------------------------------------------------------------------------------------------

DTYPES = ("float64", "float32")
H = 1e-20  # the complex step: Im f(x + ih) / h is f'(x) to float64 rounding


def _in_range(form, z, dtype):
    """The entries of z where the form's unguarded exponentials stay finite (all, for most forms)."""
    if not form.exp_factor:
        return np.ones(z.shape, bool)
    return form.exp_factor * np.abs(z) < np.log(np.finfo(dtype).max) - np.log(z.shape[-1] + 1)


def _grid(dtype):
    """Pre-activations from -100 to 100, dense near 0 and at saturation, exactly representable in dtype."""
    tiny = np.logspace(-40, 2, 300)
    z = np.concatenate([np.linspace(-40, 40, 4001), tiny, -tiny, [0.0, 60.0, -60.0, 100.0, -100.0]])
    return z.astype(dtype)[None, :]


def _within(value, exact, E, dtype, what):
    __tracebackhide__ = True
    allowed = tolerance.allowed(E, dtype, "float64")
    err = np.abs(np.asarray(value, np.float64) - exact)
    bad = ~(err <= allowed)
    if bad.any():
        i = np.flatnonzero(bad.reshape(-1))[0]
        pytest.fail(f"{what}: {bad.sum()} entries off; first at flat index {i}: got {value.reshape(-1)[i]!r}, "
                    f"harness {exact.reshape(-1)[i]!r}, |difference| {err.reshape(-1)[i]:.3g} > allowed "
                    f"{np.broadcast_to(allowed, err.shape).reshape(-1)[i]:.3g}")


def _zeros(x):
    return np.zeros((2,) + np.shape(x))


ELEMENTWISE_VALUES = [(name, f) for name, t in catalogue.ACTIVATIONS.items() for f in t["value"]]
ELEMENTWISE_DERIVATIVES = [(name, f) for name, t in catalogue.ACTIVATIONS.items() for f in t["derivative"]]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name,formula", ELEMENTWISE_VALUES, ids=[f"{n}: {f}" for n, f in ELEMENTWISE_VALUES])
def test_activation_form_equals_the_harness(name, formula, dtype):
    form, act = catalogue.ACTIVATIONS[name]["value"][formula], activations.get(name)
    z = _grid(dtype)
    z = z[:, _in_range(form, z, dtype)[0]]
    z64 = z.astype(np.float64)
    value = form.fn(z)
    assert value.dtype == np.dtype(dtype)
    E = tolerance.activation_forward(act, z64, _zeros(z64), dtype)
    _within(value, act.value(z64), E, dtype, f"{name} = {formula}")


def _value_forms(name, dtype):
    """A = g(Z) as every form computes it: the catalogue's, the reference's and the harness's, rounded."""
    forms = {f: form for f, form in catalogue.ACTIVATIONS[name]["value"].items()}
    yield "harness, rounded", (lambda z: activations.get(name).value(z.astype(np.float64)).astype(dtype)), 0
    yield "reference_impl", reference_activations.get(name)[0], 0
    for f, form in forms.items():
        yield f, form.fn, form.exp_factor


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name,formula", ELEMENTWISE_DERIVATIVES,
                         ids=[f"{n}: {f}" for n, f in ELEMENTWISE_DERIVATIVES])
def test_activation_derivative_form_equals_the_harness(name, formula, dtype):
    form, act = catalogue.ACTIVATIONS[name]["derivative"][formula], activations.get(name)
    for source, g, k in _value_forms(name, dtype):
        z = _grid(dtype)
        z = z[:, _in_range(form, z, dtype)[0] & _in_range(catalogue.Form("", None, k), z, dtype)[0]]
        z64 = z.astype(np.float64)
        with np.errstate(all="ignore"):
            A = g(z)
        derivative = form.fn(z, A)
        assert derivative.dtype == np.dtype(dtype)
        exact = np.imag(act.value(z64 + 1j * H)) / H
        _within(derivative, exact, tolerance.derivative_error(act, z64, _zeros(z64)), dtype,
                f"{name}' = {formula}, A from {source}")


def _logits(rng, dtype, m=64, n=7, spread=12.0):
    return (rng.normal(size=(m, n)) * rng.uniform(0, spread, size=(m, 1))).astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("formula", list(catalogue.SOFTMAX["value"]))
def test_softmax_form_equals_the_harness(formula, dtype):
    form, act = catalogue.SOFTMAX["value"][formula], activations.get("softmax")
    Z = _logits(np.random.default_rng(0), dtype, spread=60)
    Z = Z[_in_range(form, Z, dtype).all(1)]
    Z64 = Z.astype(np.float64)
    for axis, view in ((1, lambda x: x), (0, lambda x: x.T)):
        A = view(form.fn(view(Z), axis))
        assert A.dtype == np.dtype(dtype)
        _within(A, act.value(Z64), tolerance.activation_forward(act, Z64, _zeros(Z64), dtype), dtype,
                f"softmax = {formula}, axis {axis}")


def _softmax_vjp(Z64, dA64):
    """dz_j = Σ_k da_k ∂a_k/∂z_j from the harness's softmax, one complex step per unit j."""
    out = np.empty_like(Z64)
    for j in range(Z64.shape[1]):
        step = np.zeros(Z64.shape, complex)
        step[:, j] = 1j * H
        out[:, j] = np.imag((activations.softmax(Z64 + step) * dA64).sum(1)) / H
    return out


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("formula", list(catalogue.SOFTMAX["backward"]))
def test_softmax_backward_form_equals_the_harness(formula, dtype):
    form, act = catalogue.SOFTMAX["backward"][formula], activations.get("softmax")
    rng = np.random.default_rng(1)
    Z = _logits(rng, dtype, spread=30)
    dA = (rng.normal(size=Z.shape) * 10.0 ** rng.integers(-3, 4, size=(Z.shape[0], 1))).astype(dtype)
    Z64, dA64 = Z.astype(np.float64), dA.astype(np.float64)
    E_A = tolerance.activation_forward(act, Z64, _zeros(Z64), dtype)
    _, E_dZ = tolerance.activation_backward(act, Z64, _zeros(Z64), E_A, np.abs(dA64), _zeros(dA64), dtype)
    exact = _softmax_vjp(Z64, dA64)
    for source, g in catalogue.SOFTMAX["value"].items():
        ok = _in_range(g, Z, dtype).all(1)
        for axis, view in ((1, lambda x: x), (0, lambda x: x.T)):
            A = view(g.fn(view(Z), axis))
            dZ = view(form.fn(view(A), view(dA), axis))
            assert dZ.dtype == np.dtype(dtype)
            _within(dZ[ok], exact[ok], E_dZ[:, ok], dtype, f"softmax backward {formula}, A from {source}, axis {axis}")


def _loss_inputs(name, dtype, rng, m=64, K=5):
    """(A, Y) for a loss: outputs where its output activation puts them, targets of its kind."""
    loss = losses.get(name)
    cap = problems.OUTPUT_CAP[dtype]
    z = rng.uniform(-cap, cap, size=(m, K))
    if name == "bce":
        a = activations.sigmoid(z)
    elif name == "cross_entropy":
        a = activations.softmax(z)
    elif name == "hinge":
        a = rng.integers(-3, 4, size=(m, K)).astype(np.float64)  # margins a_k - a_c + 1 = integer - 1/2
    else:
        a = rng.normal(size=(m, K)) * 10.0 ** rng.integers(-2, 2, size=(m, 1))
    Y = problems._targets(rng, name, m, K)
    if name == "hinge":
        a = a + 0.5 * losses.target_onehot(Y)
    assert loss.targets in ("onehot", "binary", "real")
    return a.astype(dtype), Y.astype(dtype)


LOSS_VALUES = [(name, f) for name, t in catalogue.LOSSES.items() for f in t["value"]]
LOSS_GRADIENTS = [(name, f) for name, t in catalogue.LOSSES.items() for f in t["gradient"]]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name,formula", LOSS_VALUES, ids=[f"{n}: {f}" for n, f in LOSS_VALUES])
def test_loss_form_equals_the_harness(name, formula, dtype):
    form, loss = catalogue.LOSSES[name]["value"][formula], losses.get(name)
    for seed in range(20):
        A, Y = _loss_inputs(name, dtype, np.random.default_rng(seed))
        A64, Y64 = A.astype(np.float64), Y.astype(np.float64)
        for axis, view in ((1, lambda x: x), (0, lambda x: x.T)):
            per_example = form.fn(view(A), view(Y), axis)
            assert per_example.shape == (A.shape[0],) and per_example.dtype == np.dtype(dtype)
            S_loss, _, _ = tolerance.loss_backward(loss, A64, Y64, _zeros(A64), 1.0)
            _within(per_example.sum(), loss.value(A64, Y64).sum(), S_loss, dtype, f"{name} = {formula}, axis {axis}")


def _loss_gradient(loss, A64, Y64):
    out = np.empty_like(A64)
    for k in range(A64.shape[1]):
        step = np.zeros(A64.shape, complex)
        step[:, k] = 1j * H
        out[:, k] = np.imag(loss.value(A64 + step, Y64)) / H
    return out


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name,formula", LOSS_GRADIENTS, ids=[f"{n}: {f}" for n, f in LOSS_GRADIENTS])
def test_loss_gradient_form_equals_the_harness(name, formula, dtype):
    form, loss = catalogue.LOSSES[name]["gradient"][formula], losses.get(name)
    for seed in range(20):
        A, Y = _loss_inputs(name, dtype, np.random.default_rng(seed))
        ok = _in_range(form, A, dtype).all(1)
        A64, Y64 = A.astype(np.float64), Y.astype(np.float64)
        _, _, E_dA = tolerance.loss_backward(loss, A64, Y64, _zeros(A64), 1.0)
        exact = _loss_gradient(loss, A64, Y64)
        for axis, view in ((1, lambda x: x), (0, lambda x: x.T)):
            dA = view(form.fn(view(A), view(Y), axis))
            assert dA.dtype == np.dtype(dtype)
            _within(dA[ok], exact[ok], E_dA[:, ok], dtype, f"{name}' = {formula}, axis {axis}")


FUSED = [(pair, f) for pair, t in catalogue.FUSED.items() for f in t]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("d", [1, 7])
@pytest.mark.parametrize("pair,formula", FUSED, ids=[f"{p[0]}+{p[1]}: {f}" for p, f in FUSED])
def test_fused_form_equals_the_general_chain(pair, formula, d, dtype):
    name, loss_name = pair
    form, act, loss = catalogue.FUSED[pair][formula], activations.get(name), losses.get(loss_name)
    rng = np.random.default_rng(2)
    cap = problems.OUTPUT_CAP[dtype]
    Z = rng.uniform(-cap, cap, size=(64, 5)).astype(dtype)
    Y = problems._targets(rng, loss_name, 64, 5).astype(dtype)
    Z64, Y64 = Z.astype(np.float64), Y.astype(np.float64)
    A = act.value(Z64).astype(dtype)  # A_L as the SUT's forward pass may round it
    exact = np.empty_like(Z64)
    for k in range(Z.shape[1]):
        step = np.zeros(Z.shape, complex)
        step[:, k] = 1j * H
        exact[:, k] = np.imag(loss.value(act.value(Z64 + step), Y64)) / H / d
    E_A = tolerance.activation_forward(act, Z64, _zeros(Z64), dtype)
    _, M_dA, E_dA = tolerance.loss_backward(loss, act.value(Z64), Y64, E_A, 1.0 / d)
    _, E_dZ = tolerance.activation_backward(act, Z64, _zeros(Z64), E_A, M_dA, E_dA, dtype)
    dZ = form.fn(A, Y, d)
    assert dZ.dtype == np.dtype(dtype)
    _within(dZ, exact, E_dZ, dtype, f"{name} + {loss_name}: dZ = {formula}, d = {d}")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("formula", list(catalogue.WEIGHT_GRADIENTS))
def test_weight_gradient_form_equals_the_product(formula, dtype):
    rng = np.random.default_rng(3)
    A_prev = (rng.normal(size=(9, 4)) * 10.0 ** rng.integers(-3, 3, size=(9, 1))).astype(dtype)
    dZ = (rng.normal(size=(9, 6)) * 10.0 ** rng.integers(-3, 3, size=(1, 6))).astype(dtype)
    A64, dZ64 = A_prev.astype(np.float64), dZ.astype(np.float64)
    S_dW, S_db, _, _ = tolerance.layer_backward(A64, _zeros(A64), np.abs(dZ64), _zeros(dZ64), np.zeros((4, 6)), dtype)
    for rows in (True, False):
        dW, db = catalogue.WEIGHT_GRADIENTS[formula](A_prev if rows else A_prev.T, dZ if rows else dZ.T, rows)
        dW, db = (dW, db) if rows else (dW.T, db.T)
        assert dW.dtype == db.dtype == np.dtype(dtype) and dW.shape == (4, 6) and db.shape == (1, 6)
        _within(dW, A64.T @ dZ64, S_dW, dtype, f"dW by {formula}, rows {rows}")
        _within(db, dZ64.sum(0, keepdims=True), S_db, dtype, f"db by {formula}, rows {rows}")


def test_every_formula_has_two_forms_beyond_the_reference():
    for table in catalogue.ACTIVATIONS.values():
        assert len(table["value"]) >= 2 and len(table["derivative"]) >= 2
    assert len(catalogue.SOFTMAX["value"]) >= 2 and len(catalogue.SOFTMAX["backward"]) >= 2
    for table in catalogue.LOSSES.values():
        assert len(table["value"]) >= 2 and len(table["gradient"]) >= 2
    assert set(catalogue.ACTIVATIONS) | {"softmax"} == set(activations.NAMES)
    assert set(catalogue.LOSSES) == set(losses.NAMES)


def test_every_form_is_used_by_a_composite():
    used = {(kind, name, f) for c in composites.COMPOSITES.values() for name, (v, d) in c.activations.items()
            for kind, f in (("value", v), ("derivative", d))}
    used |= {(kind, name, f) for c in composites.COMPOSITES.values() for name, (v, g) in c.losses.items()
             for kind, f in (("value", v), ("gradient", g))}
    used |= {("fused", pair, f) for c in composites.COMPOSITES.values() for pair, f in c.fused.items()}
    listed = {(kind, name, f) for name, t in catalogue.ACTIVATIONS.items() for kind in t for f in t[kind]}
    listed |= {("value" if kind == "value" else "derivative", "softmax", f)
               for kind, t in catalogue.SOFTMAX.items() for f in t}
    listed |= {(kind, name, f) for name, t in catalogue.LOSSES.items() for kind in t for f in t[kind]}
    listed |= {("fused", pair, f) for pair, t in catalogue.FUSED.items() for f in t}
    assert listed - used == set()
    assert used - listed == set()  # every name a composite takes is a form of the catalogue
    assert {c.weight_gradients for c in composites.COMPOSITES.values()} == set(catalogue.WEIGHT_GRADIENTS)
    for c in composites.COMPOSITES.values():
        assert set(c.activations) == set(activations.NAMES) and set(c.losses) == set(losses.NAMES)


# ---------------------------------------------------------------------------------------------
# A SUT's declared scales: generated cases stay inside them
# ---------------------------------------------------------------------------------------------

@settings(max_examples=60, deadline=None)
@given(case=cs.cases({"scales": ["small", "unit"]}))
def test_generated_cases_stay_inside_the_declared_scales(case):
    assert case["scale"] in ("small", "unit")


@settings(max_examples=30, deadline=None)
@given(case=cs.cases({"scales": ["large", "unit"]}, scales=("large", "small")))
def test_the_scales_argument_narrows_the_declared_scales(case):
    assert case["scale"] == "large"


def test_declared_scales_must_be_known_and_leave_something():
    with pytest.raises(contract.ContractError, match="huge"):
        cs.cases({"scales": ["huge"]})
    with pytest.raises(InvalidArgument, match="no dtype, layout or scale left"):
        cs.cases({"scales": ["small"]}, scales=("large",))
    assert contract.SUPPORT_KEYS["scales"] == tuple(problems.SCALES)
    assert load("examples.forms.composites:backprop_b", isolation="none").supported("scales") == ("small", "unit")

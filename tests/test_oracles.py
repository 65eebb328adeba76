"""The oracles: independent of the SUT, agreeing with each other, and accurate."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings

from crosscheck import activations, contract, problems, tolerance
from crosscheck import strategies as cs
from oracles import ORACLES
from oracles import finite_differences as fd

ROOT = Path(__file__).resolve().parents[1]
SMOOTH = [name for name, a in activations.ACTIVATIONS.items() if a.kink is None]
SMOOTH_LOSSES = ["sse", "half_sse", "mse", "bce", "cross_entropy", "softmax_cross_entropy", "bce_with_logits"]


def test_no_oracle_imports_the_sut():
    code = ("import sys, oracles.torch_oracle, oracles.jax_oracle, oracles.finite_differences; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('reference_impl', 'examples')))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    for path in (ROOT / "oracles").glob("*.py"):
        assert "reference_impl" not in path.read_text(), path


@settings(max_examples=40, deadline=None)
@given(problem=cs.problems(supports={"activations": SMOOTH, "losses": SMOOTH_LOSSES, "dtypes": ["float64"]}))
def test_complex_step_is_accurate_to_1e_9_relative_on_smooth_float64_cases(problem):
    # the oracle's accuracy target against autograd, per tensor: within 1e-9 of the tensor's largest
    # entry, beyond the float64 rounding that any two computations of it may differ by (a tensor that
    # is a tiny result of large cancelling terms is only known to that rounding, by any method)
    params, X, Y = problem.rows64()
    got = fd.gradients(problem.case, params, X, Y)
    ref = ORACLES["torch"].gradients(problem.case, params, X, Y)
    S = tolerance.bounds({**problem.case, "layout": "rows"}, params, X, Y).S
    for key in contract.backward_order(problem.case):
        rounding = tolerance.allowed(S[key], "float64", "float64", 1.0, fd.UNDERFLOW_GAIN)
        excess = np.abs(got[key] - ref[key]) - rounding
        assert excess.max() <= tolerance.FD_ACCURACY * np.abs(ref[key]).max(), key


@pytest.mark.parametrize("name", ORACLES)
def test_each_oracle_reports_whether_it_can_run(name):
    ok, reason = ORACLES[name].available()
    assert ok and reason == ""


def test_the_jax_oracle_gives_the_same_answer_in_any_bucket(monkeypatch):
    pytest.importorskip("jax", reason="jax is not installed")
    from oracles import jax_oracle
    p = problems.build(dict(sizes=[3, 5, 4], activations=["tanh", "softmax"], loss="cross_entropy", layout="rows",
                            dtype="float64", reduction="mean", batch=6, seed=2, scale="unit"))
    small = jax_oracle.gradients(p.case, *p.rows64())
    monkeypatch.setattr(jax_oracle, "MIN_WIDTH", 64)
    monkeypatch.setattr(jax_oracle, "MIN_BATCH", 64)
    monkeypatch.setattr(jax_oracle, "MIN_DEPTH", 8)  # six identity layers after the output instead of two
    big = jax_oracle.gradients(p.case, *p.rows64())
    assert set(big) == set(small) and all(np.shape(big[k]) == np.shape(small[k]) for k in small)
    S = tolerance.bounds(p.case, *p.rows64()).S
    for key in contract.backward_order(p.case):
        assert (np.abs(small[key] - big[key]) <= tolerance.allowed(S[key], "float64", "float64")).all(), key


def test_the_jax_oracle_pads_an_unbalanced_network_layer_by_layer(monkeypatch):
    # padding every layer to 2048 units would cost 4 x 2048^2 entries for a 4k-parameter network
    pytest.importorskip("jax", reason="jax is not installed")
    from oracles import jax_oracle, torch_oracle
    p = problems.build(dict(sizes=[2048, 2, 3], activations=["tanh", "softmax"], loss="cross_entropy", layout="rows",
                            dtype="float64", reduction="mean", batch=5, seed=4, scale="unit"))
    shapes = []
    compiled = jax_oracle._compiled
    monkeypatch.setattr(jax_oracle, "_compiled",
                        lambda Ws, *rest: shapes.append([W.shape for W in Ws]) or compiled(Ws, *rest))
    got = jax_oracle.gradients(p.case, *p.rows64())
    assert shapes == [[(2048, 16), (16, 16), (16, 16), (16, 16)]]  # own buckets, then identity layers
    want = torch_oracle.gradients(p.case, *p.rows64())
    S = tolerance.bounds(p.case, *p.rows64()).S
    for key in contract.backward_order(p.case):
        assert (np.abs(got[key] - want[key]) <= tolerance.allowed(S[key], "float64", "float64")).all(), key


@settings(max_examples=25, deadline=None)
@given(problem=cs.problems(dtypes=("float64",)))
def test_per_unit_weights_equal_per_entry_perturbation(problem):
    # dW from one pass per unit must be what perturbing every W entry on its own gives
    params, X, Y = problem.rows64()
    fast = fd.gradients(problem.case, params, X, Y)
    slow = fd.gradients(problem.case, params, X, Y, weights="per_entry")
    S = tolerance.bounds({**problem.case, "layout": "rows"}, params, X, Y).S
    for key in contract.backward_order(problem.case):
        allowed = tolerance.allowed(S[key], "float64", "float64", fd.UNDERFLOW_GAIN, fd.UNDERFLOW_GAIN)
        assert (np.abs(fast[key] - slow[key]) <= allowed).all(), key


def test_the_weights_mode_is_checked():
    p = problems.build(dict(sizes=[2, 2], activations=["tanh"], loss="sse", layout="rows", dtype="float64",
                            reduction="sum", batch=2, seed=0, scale="unit"))
    with pytest.raises(ValueError, match="unknown weights mode 'each'; valid: per_unit, per_entry"):
        fd.gradients(p.case, *p.rows64(), weights="each")


@pytest.mark.parametrize("name", list(ORACLES))
def test_every_oracle_covers_every_activation_and_loss(name):
    # an oracle's own tables (torch's and JAX's activation and loss maps) must name every contract
    # entry: a gap would surface as an oracle_error on the first case that meets it
    if not ORACLES[name].available()[0]:
        pytest.fail(f"{name} is not installed: {ORACLES[name].available()[1]}")
    from crosscheck import losses

    todo = [(a, "sse") for a in activations.NAMES] + [
        (losses.get(loss).outputs[0] if losses.get(loss).outputs else "identity", loss) for loss in losses.NAMES]
    for act, loss in todo:
        case = dict(contract_version="1.0", sizes=[3, 4, 3], activations=["tanh", act], loss=loss, layout="rows",
                    dtype="float64", reduction="mean", batch=4, seed=3, scale="unit")
        params, X, Y = problems.build(case).rows64()
        answer = ORACLES[name].gradients(case, params, X, Y)
        assert set(contract.backward_order(case)) | {"loss"} <= set(answer), (name, act, loss)

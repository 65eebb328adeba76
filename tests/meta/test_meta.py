"""The tests of the tests: the checker must fail when a SUT is wrong, and say where.

A verification suite that never fails proves nothing, so every verdict the checker can reach is
reached here on purpose, with a SUT known to be wrong in a known place.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import reference_impl
from crosscheck import check, contract, problems, tolerance
from crosscheck import strategies as cs
from crosscheck.compare import compare
from crosscheck.sut import Sut
from oracles import ORACLES, Oracle

REFERENCE = Sut("reference_impl:backprop", reference_impl.backprop, reference_impl.supports)
CASE = dict(contract_version="1.0", sizes=[3, 4, 2], activations=["tanh", "sigmoid"], loss="bce",
            layout="rows", dtype="float64", reduction="mean", batch=5, seed=7, scale="unit")


def fake(fn, spec="fake"):
    return Sut(spec, fn, None)


def off_by(key, index, delta):
    """The reference implementation with one entry of one tensor moved by delta."""
    def backprop(case, params, X, Y):
        out = reference_impl.backprop(case, params, X, Y)
        out[key] = out[key].copy()
        out[key][index] += delta
        return out
    return backprop


@settings(max_examples=60, deadline=None)
@given(problem=cs.problems(dtypes=("float64",)), data=st.data())
def test_one_entry_of_one_dW_off_by_1e_3_fails_and_is_located(problem, data):
    L = contract.depth(problem.case)
    l = data.draw(st.integers(1, L), label="layer")
    shape = problem.params[f"W{l}"].shape
    index = tuple(data.draw(st.integers(0, n - 1), label="index") for n in shape)
    result = check.check(problem, fake(off_by(f"dW{l}", index, 1e-3)))
    assert result.verdict == "fail", result.message()
    assert result.first_divergence == f"dW{l}"
    worst = [c for c in result.comparisons if c.tensor == f"dW{l}"]
    assert worst and all(not c.passed and c.mismatched == 1 for c in worst)
    rows_index = list(index) if problem.case["layout"] == "rows" else list(index[::-1])
    assert all(c.worst_index == rows_index for c in worst)
    assert f"first diverging tensor in backward order: dW{l} (layer {l})" in result.message()


@settings(max_examples=30, deadline=None)
@given(problem=cs.problems(dtypes=("float32",), max_depth=1, scales=("small", "unit")))
def test_float32_off_by_1e_3_relative_fails_in_one_layer_nets(problem):
    # The float32 allowance is a worst-case bound over the magnitudes of the terms, so in deep or
    # saturated nets with cancellation it can exceed 1e-3 of an entry (docs/tolerance.md measures
    # how often); one unsaturated layer keeps it well below that.
    l = 1
    dW = reference_impl.backprop(problem.case, problem.params, problem.X, problem.Y)[f"dW{l}"]
    index = np.unravel_index(np.argmax(np.abs(dW)), dW.shape)
    delta = 1e-3 * max(1.0, abs(float(dW[index])))
    result = check.check(problem, fake(off_by(f"dW{l}", index, delta)))
    assert result.verdict == "fail" and result.first_divergence == f"dW{l}", result.message()


def test_the_reference_passes_the_meta_case():
    # the control for every test below: the unmodified SUT on the same case passes
    assert check.check(problems.build(CASE), REFERENCE).verdict == "pass"


@pytest.mark.parametrize("key", ["loss", "dZ2", "db2", "dZ1", "dW1", "db1", "dA0"])
def test_first_divergence_is_the_tensor_that_was_broken(key):
    index = () if key == "loss" else (0, 0)
    def backprop(case, params, X, Y):
        out = reference_impl.backprop(case, params, X, Y)
        if key == "loss":
            out["loss"] += 1e-3
        else:
            out[key] = out[key].copy()
            out[key][index] += 1e-3
        return out
    result = check.check(problems.build(CASE), fake(backprop))
    assert result.verdict == "fail"
    assert result.first_divergence == key
    if key == "loss":
        assert "forward pass" in result.message()


def _returning(transform):
    def backprop(case, params, X, Y):
        return transform(reference_impl.backprop(case, params, X, Y))
    return backprop


@pytest.mark.parametrize("transform, expected", [
    (lambda out: {k: v for k, v in out.items() if k != "db1"}, "missing key 'db1'"),
    (lambda out: {**out, "dW2": out["dW2"].T}, "dW2 has shape (2, 4), expected (4, 2)"),
    (lambda out: {**out, "dZ1": out["dZ1"].astype(np.float32)}, "dZ1 has dtype float32, expected float64"),
    (lambda out: {**out, "dW1": np.full_like(out["dW1"], np.nan)}, "dW1 holds 12 non-finite value(s)"),
    (lambda out: {**out, "loss": float("inf")}, "'loss' is inf"),
    (lambda out: {**out, "db2": out["db2"].tolist()}, "db2 must be a numpy array, got list"),
    (lambda out: [out], "backprop must return a dict, got list"),
])
def test_a_broken_answer_fails_with_a_message_naming_the_problem(transform, expected):
    result = check.check(problems.build(CASE), fake(_returning(transform)))
    assert result.verdict == "fail"
    assert any(expected in p for p in result.problems), result.problems
    assert expected in result.message()


def test_a_crashing_sut_fails_and_the_run_goes_on():
    def backprop(case, params, X, Y):
        raise ZeroDivisionError("division by zero in layer 2")
    result = check.check(problems.build(CASE), fake(backprop))
    assert result.verdict == "fail"
    assert "SUT raised ZeroDivisionError: division by zero in layer 2" in result.message()
    assert result.to_json()["verdict"] == "fail"


def test_not_implemented_is_unsupported_never_a_pass():
    def backprop(case, params, X, Y):
        raise NotImplementedError("no bce here")
    result = check.check(problems.build(CASE), fake(backprop))
    assert result.verdict == "unsupported"
    assert not result.failed and result.verdict != "pass"


def test_a_run_where_no_oracle_ran_fails(monkeypatch):
    monkeypatch.setattr("crosscheck.check.ORACLES", {"ghost": Oracle("ghost", "no_such_module", "no_such_framework")})
    result = check.check(problems.build(CASE), REFERENCE)
    assert result.verdict == "no_oracle" and result.failed
    assert "no_such_framework is not importable" in result.message()


def test_a_missing_framework_skips_its_oracle_with_the_reason(monkeypatch):
    ghost = Oracle("ghost", "no_such_module", "no_such_framework")
    monkeypatch.setattr("crosscheck.check.ORACLES", {**ORACLES, "ghost": ghost})
    result = check.check(problems.build(CASE), REFERENCE)
    assert result.verdict == "pass"
    assert result.oracles["ghost"] == {"ran": False, "reason": result.oracles["ghost"]["reason"], "seconds": 0.0}
    assert "oracles skipped: ghost (no_such_framework is not importable" in result.message()


def test_a_wrong_oracle_is_an_oracle_disagreement_not_a_sut_failure(monkeypatch):
    import oracles.torch_oracle as torch_oracle
    original = torch_oracle.gradients

    def broken(case, params, X, Y):
        out = original(case, params, X, Y)
        out["dW1"] = out["dW1"] * 1.01
        return out
    monkeypatch.setattr(torch_oracle, "gradients", broken)
    result = check.check(problems.build(CASE), REFERENCE)
    assert result.verdict == "oracle_disagreement"
    assert "torch~jax DISAGREE" in result.message() and "jax~fd agree" in result.message()


def test_compare_flags_a_single_bad_entry_with_its_index():
    ref = np.arange(12.0).reshape(3, 4)
    bad = ref.copy()
    bad[2, 1] += 1e-3
    c = compare("dW1", "torch", bad, ref, np.full(ref.shape, 1e-6))
    assert not c.passed and c.mismatched == 1
    assert c.max_abs_index == [2, 1] and c.worst_index == [2, 1]
    assert c.max_abs == pytest.approx(1e-3) and c.margin == pytest.approx(1e3)


def test_compare_treats_nan_as_a_mismatch_and_checks_shape_then_dtype():
    ref = np.zeros((2, 2))
    assert not compare("dZ1", "jax", np.full((2, 2), np.nan), ref, np.ones((2, 2))).passed
    shape = compare("dZ1", "jax", np.zeros((2, 3)), ref, 1.0)
    assert not shape.passed and "shape (2, 3) != expected (2, 2)" in shape.problem
    dtype = compare("dZ1", "jax", np.zeros((2, 2), np.float32), ref, 1.0, expected_dtype="float64")
    assert not dtype.passed and "dtype float32" in dtype.problem


def test_compare_passes_identical_values_even_with_zero_allowance():
    ref = np.array([[0.0, 1.5], [-2.0, 3.0]])
    assert compare("db1", "fd", ref.copy(), ref, np.zeros(ref.shape)).passed


def test_published_rounding_is_half_a_unit_in_the_last_digit():
    assert tolerance.published_rounding("0.298371109") == pytest.approx(5e-10)
    assert tolerance.published_rounding("0.35") == pytest.approx(5e-3)
    assert tolerance.published_rounding("1.5e-3") == pytest.approx(5e-5)


@settings(max_examples=80, deadline=None)
@given(problem=cs.problems())
def test_generated_problems_are_valid_and_clear_of_kinks(problem):
    case = problem.case
    contract.validate_inputs(case, problem.params, problem.X, problem.Y)
    rows, X, Y = problem.rows64()
    b = tolerance.bounds({**case, "layout": "rows"}, rows, X, Y)
    assert tolerance.kink_clearance(case, b, Y).all()
    assert np.isfinite(b.A[-1]).all()
    if problems.output_capped(case):
        assert np.abs(b.Z[-1]).max() <= problems.OUTPUT_CAP[case["dtype"]]


@settings(max_examples=30, deadline=None)
@given(case=cs.cases())
def test_the_same_case_builds_the_same_arrays(case):
    a, b = problems.build(case), problems.build(dict(case))
    assert all(np.array_equal(a.params[k], b.params[k]) for k in a.params)
    assert np.array_equal(a.X, b.X) and np.array_equal(a.Y, b.Y)


def test_state_kept_between_calls_is_caught():
    calls = []

    def backprop(case, params, X, Y):
        out = reference_impl.backprop(case, params, X, Y)
        calls.append(1)
        out["db2"] = out["db2"] * len(calls)  # a counter that leaks into the answer
        return out
    result = check.check(problems.build(CASE), fake(backprop))
    assert result.verdict == "fail" and result.first_divergence == "db2"
    assert "db2 differs between two calls with the same inputs" in result.message()


def test_a_sut_that_changes_its_inputs_in_place_fails():
    def backprop(case, params, X, Y):
        out = reference_impl.backprop(case, params, X, Y)
        params["W1"] -= 0.1 * out["dW1"]  # an SGD step taken inside backprop
        return out
    result = check.check(problems.build(CASE), fake(backprop))
    assert result.verdict == "fail"
    assert "the SUT changed its input params['W1'] in place" in result.message()


def test_an_oracle_that_raises_is_an_oracle_error_not_an_absent_oracle(monkeypatch):
    import oracles.finite_differences as fd_oracle

    def broken(case, params, X, Y):
        raise KeyError("gelu")  # an activation its table lacks
    monkeypatch.setattr(fd_oracle, "gradients", broken)
    result = check.check(problems.build(CASE), REFERENCE)
    assert result.verdict == "oracle_error" and result.failed
    assert result.oracles["fd"]["error"] and not result.oracles["fd"]["ran"]
    assert "ORACLE ERROR" in result.message() and "oracle fd raised KeyError: 'gelu'" in result.message()
    assert "error" not in result.oracles["torch"]  # the others ran as usual


def test_an_unsupported_case_costs_no_oracle_run(monkeypatch):
    import oracles.finite_differences as fd_oracle

    def counted(*args):
        raise AssertionError("an oracle ran for a case the SUT declined")
    monkeypatch.setattr(fd_oracle, "gradients", counted)

    def backprop(case, params, X, Y):
        raise NotImplementedError("no bce here")
    result = check.check(problems.build(CASE), fake(backprop))
    assert result.verdict == "unsupported" and result.oracles == {}


def test_a_forward_only_difference_is_classified_and_shown_to_every_digit():
    # eps inside the log (as some libraries write cross-entropy): the loss moves by ~1e-11 of itself,
    # every gradient stays right
    def backprop(case, params, X, Y):
        out = reference_impl.backprop(case, params, X, Y)
        out["loss"] = out["loss"] * (1 + 1e-11)
        return out
    result = check.check(problems.build(CASE), fake(backprop))
    assert result.verdict == "fail" and result.first_divergence == "loss"
    message = result.message()
    assert "forward only: the loss differs, every gradient agrees" in message
    worst = next(line for line in message.splitlines() if "worst margin" in line)
    sut_value, oracle_value = (part.split()[-1] for part in worst.split(":")[-1].split(","))
    assert sut_value != oracle_value, worst  # enough digits to see the difference


def test_the_sut_cannot_corrupt_the_harness_copy_of_the_case():
    problem = problems.build(CASE)
    before = {k: (v.copy() if hasattr(v, "copy") else v) for k, v in problem.case.items()}

    def backprop(case, params, X, Y):
        case["activations"].append("relu")
        case.pop("seed")
        return reference_impl.backprop({**case, "activations": case["activations"][:-1]}, params, X, Y)
    result = check.check(problem, fake(backprop))
    assert result.verdict == "fail" and "case['activations']" in result.problems[0]
    assert problem.case == before and '"seed": 7' in result.reproduce()


def test_the_reproduce_command_is_shell_quoted():
    import shlex

    result = check.check(problems.build(CASE), fake(reference_impl.backprop, spec="my dir/it's mine.py:backprop"))
    argv = shlex.split(result.reproduce())
    assert argv[5] == "my dir/it's mine.py:backprop" and argv[6].startswith('{"activations"')


@pytest.mark.parametrize("transform, expected, agree", [
    (lambda out: {**out, "dZ1": out["dZ1"].astype(np.float32)},
     "dZ1 has dtype float32, expected float64; cast to float64, its values differ", False),
    (lambda out: {**out, "dW2": out["dW2"].T}, "dW2 has shape (2, 4), expected (4, 2); transposed, its values agree",
     True),
    (lambda out: {**out, "db2": out["db2"].reshape(-1)}, "db2 has shape (2,), expected (1, 2); reshaped to (1, 2), "
     "its values agree", True),
    (lambda out: {**out, "dW1": 2 * out["dW1"].astype(np.float32)},
     "dW1 has dtype float32, expected float64; cast to float64, its values differ: worst margin", False),
])
def test_a_wrong_dtype_or_shape_still_has_its_values_compared(transform, expected, agree):
    # float32 loses digits a float64 case must keep: a float32 dZ1 differs, a transposed dW2 agrees
    result = check.check(problems.build(CASE), fake(_returning(transform)))
    assert result.verdict == "fail"
    assert any(p.startswith(expected) for p in result.problems), result.problems
    key = expected.split()[0]
    mine = [c for c in result.comparisons if c.tensor == key]
    assert mine and all(c.problem is None for c in mine) and all(c.passed for c in mine) == agree
    assert expected in result.message()

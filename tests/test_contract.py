"""The contract's own checks and the SUT loader: bad input gets an error that names the problem."""

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis.errors import InvalidArgument

from crosscheck import contract, problems
from crosscheck import strategies as cs
from crosscheck.sut import SutLoadError, load

CASE = dict(sizes=[3, 4, 2], activations=["relu", "softmax"], loss="cross_entropy", layout="rows",
            dtype="float64", reduction="mean", batch=5, seed=0, scale="unit")


@pytest.mark.parametrize("change, message", [
    ({"sizes": [3]}, "case['sizes'] must be [n0, n1, ..., nL] with L >= 1"),
    ({"sizes": [3, 0, 2]}, "every n >= 1"),
    ({"activations": ["relu"]}, "one name per layer (2)"),
    ({"activations": ["relu", "swish"]}, "unknown activation 'swish'; valid names: identity, sigmoid"),
    ({"loss": "l1"}, "unknown loss 'l1'; valid names: sse, half_sse"),
    ({"layout": "cols"}, "case['layout'] = 'cols' is not valid; valid: rows, columns"),
    ({"dtype": "float16"}, "case['dtype'] = 'float16' is not valid; valid: float64, float32"),
    ({"reduction": "avg"}, "case['reduction'] = 'avg' is not valid; valid: mean, sum"),
])
def test_a_bad_case_names_the_bad_key(change, message):
    with pytest.raises(ValueError) as info:
        contract.validate_case({**CASE, **change})
    assert message in str(info.value)


def test_a_missing_key_is_named():
    case = {k: v for k, v in CASE.items() if k != "loss"}
    with pytest.raises(contract.ContractError, match="case is missing key 'loss'"):
        contract.validate_case(case)


@pytest.mark.parametrize("layout", contract.LAYOUTS)
def test_shapes_follow_the_layout(layout):
    shapes = contract.shapes({**CASE, "layout": layout}, m=5)
    if layout == "rows":
        assert shapes["X"] == (5, 3) and shapes["W1"] == (3, 4) and shapes["b1"] == (1, 4) and shapes["Z2"] == (5, 2)
    else:
        assert shapes["X"] == (3, 5) and shapes["W1"] == (4, 3) and shapes["b1"] == (4, 1) and shapes["Z2"] == (2, 5)


def test_backward_order_starts_at_the_output():
    assert contract.backward_order({**CASE, "sizes": [3, 4, 4, 2], "activations": ["relu"] * 3}) == [
        "dZ3", "dW3", "db3", "dZ2", "dW2", "db2", "dZ1", "dW1", "db1", "dA0"]


def test_bad_inputs_name_the_tensor_and_both_shapes():
    p = problems.build(CASE)
    with pytest.raises(contract.ContractError, match=r"W2 has shape \(2, 4\), expected \(4, 2\)"):
        contract.validate_inputs(CASE, {**p.params, "W2": p.params["W2"].T}, p.X, p.Y)
    with pytest.raises(contract.ContractError, match="params is missing 'b1'"):
        contract.validate_inputs(CASE, {k: v for k, v in p.params.items() if k != "b1"}, p.X, p.Y)
    with pytest.raises(contract.ContractError, match="X has dtype float32, expected float64"):
        contract.validate_inputs(CASE, p.params, p.X.astype(np.float32), p.Y)
    bad = p.X.copy()
    bad[0, 0] = np.nan
    with pytest.raises(contract.ContractError, match="X holds non-finite values"):
        contract.validate_inputs(CASE, p.params, bad, p.Y)


def test_layout_conversion_is_an_exact_round_trip():
    p = problems.build({**CASE, "layout": "columns"})
    back = contract.from_rows(p.case, contract.to_rows(p.case, p.params))
    assert all(np.array_equal(back[k], p.params[k]) for k in p.params)


def test_supports_restricts_and_rejects_unknown_names():
    assert contract.supported({"losses": ["sse", "hinge"]}, "losses") == ("sse", "hinge")
    assert contract.supported(None, "layouts") == contract.LAYOUTS
    with pytest.raises(contract.ContractError, match=r"supports\['losses'\] names unknown \['l2'\]"):
        contract.supported({"losses": ["l2"]}, "losses")


@given(cs.cases(supports={"activations": ["tanh", "sigmoid"], "losses": ["bce", "sse"], "dtypes": ["float32"]}))
def test_generated_cases_stay_inside_what_the_sut_supports(case):
    assert set(case["activations"]) <= {"tanh", "sigmoid"}
    assert case["loss"] in {"bce", "sse"} and case["dtype"] == "float32"
    if case["loss"] == "bce":
        assert case["activations"][-1] == "sigmoid"


@pytest.mark.parametrize("kwargs, message", [
    (dict(min_depth=0), "depth must satisfy 1 <= min <= max"),
    (dict(max_width=0), "width must satisfy 1 <= min <= max"),
    (dict(supports={"activations": ["tanh"], "losses": ["bce"]}), "leaves no network"),
])
def test_strategy_arguments_are_validated_up_front(kwargs, message):
    with pytest.raises(InvalidArgument, match=message):
        cs.cases(**kwargs)


@pytest.mark.parametrize("spec, message", [
    ("reference_impl", "--sut must look like 'pkg.module:func'"),
    ("no/such/file.py:backprop", "--sut file 'no/such/file.py' does not exist"),
    ("reference_impl:nope", "'reference_impl' has no callable 'nope'"),
    ("no_such_package_xyz:f", "importing 'no_such_package_xyz' failed: ModuleNotFoundError"),
])
def test_a_bad_sut_spec_says_what_is_wrong(spec, message):
    with pytest.raises(SutLoadError) as info:
        load(spec)
    assert message in str(info.value)


def test_a_sut_file_with_a_bad_supports_key_is_rejected(tmp_path):
    path = tmp_path / "mine.py"
    path.write_text("supports = {'activation': ['tanh']}\ndef backprop(case, params, X, Y):\n    return {}\n")
    with pytest.raises(SutLoadError, match="supports has unknown key 'activation'"):
        load(f"{path}:backprop")


def test_a_sut_loads_from_a_file_with_its_supports(tmp_path):
    path = tmp_path / "mine.py"
    path.write_text("supports = {'dtypes': ['float64']}\ndef backprop(case, params, X, Y):\n    return {}\n")
    sut = load(f"{path}:backprop")  # in its own process: this one never imports it
    assert sut.supported("dtypes") == ("float64",) and sut.isolated and sut.backprop is None
    sut.close()
    here = load(f"{path}:backprop", isolation="none")
    assert here.supported("dtypes") == ("float64",) and callable(here.backprop) and not here.isolated


# contract 1.1: supports that say what real code does

ARCHITECTURE = {"hidden_activations": ["relu"], "output_activations": ["sigmoid"], "losses": ["bce"],
                "layouts": ["columns"], "output_units": [1]}


@settings(max_examples=200, deadline=None)
@given(case=cs.cases(ARCHITECTURE))
def test_an_architecture_declaration_is_honoured(case):
    assert case["activations"][-1] == "sigmoid" and set(case["activations"][:-1]) <= {"relu"}
    assert case["loss"] == "bce" and case["layout"] == "columns" and case["sizes"][-1] == 1


@settings(max_examples=50, deadline=None)
@given(case=cs.cases(ARCHITECTURE, min_width=17, max_width=96, max_depth=3, sample_units=3))
def test_an_architecture_declaration_is_honoured_by_wide_sampled_cases(case):
    assert case["sizes"][-1] == 1 and min(case["sizes"][1:-1] or [17]) >= 17


@settings(max_examples=50, deadline=None)
@given(case=cs.cases({"sizes": [[4, 3, 2], [5, 2]], "losses": ["softmax_cross_entropy"],
                      "output_activations": ["identity"], "hidden_activations": ["relu"]}))
def test_fixed_architectures_are_the_only_ones_drawn(case):
    assert case["sizes"] in ([4, 3, 2], [5, 2])
    assert case["activations"] in (["relu", "identity"], ["identity"])


@settings(max_examples=30, deadline=None)
@given(case=cs.cases({"depths": [2]}, max_depth=4))
def test_declared_depths_are_honoured(case):
    assert len(case["sizes"]) == 3


@pytest.mark.parametrize("supports, message", [
    ({"depths": [0]}, "supports['depths'] must be a non-empty list of integers >= 1"),
    ({"labels": "ints"}, "supports['labels'] must be one of onehot, integer"),
    ({"returns": ["dX"]}, "supports['returns'] lists which of loss, dZ, dA0"),
    ({"output_units": [1], "losses": ["cross_entropy"]}, "leaves no network"),
    ({"hidden_activations": ["nope"]}, "names unknown ['nope']"),
])
def test_a_bad_architecture_declaration_is_one_load_error(tmp_path, supports, message):
    path = tmp_path / "mine.py"
    path.write_text(f"supports = {supports!r}\ndef backprop(case, params, X, Y):\n    return {{}}\n")
    with pytest.raises(SutLoadError, match=re.escape(message)):
        load(f"{path}:backprop", isolation="none")

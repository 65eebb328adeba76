"""The diagnosis names the component and the relation of known bugs, from their records alone
(catalogue replay off: the mutants are only SUTs here), and nothing for a correct SUT."""

import functools
import json
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

import reference_impl
from crosscheck import check, diagnose
from crosscheck import strategies as cs
from crosscheck.sut import Sut
from mutants.base import Backprop
from mutants.base import sigmoid as _sigmoid
from mutants.catalogue import CATALOGUE, MUTANTS

CATALOGUE_CASES = 30
"""Cases drawn per catalogue bug: enough for every relation to show, few enough for CI."""
EXPECTED = {  # every catalogue bug: (component, relation, components the evidence cannot tell from it)
    "sigmoid_prime_at_A": ("sigmoid", None, ()),
    "tanh_prime_from_Z": ("tanh", None, ()),
    "tanh_prime_unsquared": ("tanh", None, ()),
    "elu_prime_forgot_one": ("elu", "only where z < 0", ()),
    "softplus_prime_is_softplus": ("softplus", None, ()),
    "silu_prime_no_product_rule": ("silu", None, ()),
    "gelu_prime_no_density_term": ("gelu", None, ()),
    "leaky_slope_lost": ("leaky_relu", "ratio 0", ()),
    "softmax_elementwise": ("softmax", None, ()),
    "sse_missing_factor_2": ("sse", "ratio 0.5", ()),
    "half_sse_extra_factor_2": ("half_sse", "ratio 2", ()),
    "mse_forgot_1_over_K": ("mse", "ratio K", ()),
    "bce_sign_flipped": ("bce", "ratio -1", ("sigmoid",)),  # bce always comes with a sigmoid output
    "cross_entropy_sign_flipped": ("cross_entropy", "ratio -1", ()),
    "softmax_cross_entropy_no_softmax": ("softmax_cross_entropy", None, ()),
    "bce_with_logits_no_sigmoid": ("bce_with_logits", None, ()),
    "hinge_counts_target_class": ("hinge", "offset 1 per example", ()),
    "hinge_target_pushed_once": ("hinge", None, ()),
    "mean_forgotten": ("reduction", "ratio m", ()),
    "mean_applied_twice": ("reduction", "ratio 1/m", ()),
    "bias_grad_first_example": ("bias", "first example only", ("examples",)),  # every case has m >= 2
    "bias_grad_wrong_axis": ("bias", "sum over the wrong axis", ()),
    "dW_transposed": ("weights", "transpose", ("layout",)),  # only the rows layout reveals it
    "dW_columns_uses_rows_formula": ("layout", "transpose", ("weights",)),  # only columns reveals it
    "dA_through_dW": ("depth", "dA through dW", ()),
    "gradients_accumulate": ("state", None, ()),
    "dW_through_float16": ("dtype", "rounded to float16", ()),
    "dW_skips_last_example": ("weights", "last example left out", ("examples",)),
    "backward_skips_layer_1": ("depth", "ratio 0", ()),  # layer 1's gradients come back zero
    "fused_shortcut_everywhere": ("sse", None, ()),
}


def records(sut, n=60, **reveals):
    # derandomize draws from a digest of run's source: an edit here changes every case drawn
    out = []

    @settings(max_examples=n, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(cs.problems(**reveals))
    def run(problem):
        out.append({"kind": "case", "phase": "generate", **check.check(problem, sut, ["torch", "fd"]).to_json()})

    run()
    return out


@functools.cache
def mutant_records(name: str) -> tuple:
    mutant = MUTANTS[name]
    return tuple(records(Sut(mutant.spec, mutant.sut, None), n=CATALOGUE_CASES, **mutant.reveals))


def named(findings) -> set[str]:
    """The component a diagnosis names first, with the one it says is equally consistent with the evidence."""
    equal = len(findings) > 1 and "equally consistent with the evidence" in findings[0].summary
    return {findings[0].component} | ({findings[1].component} if equal else set())


def test_the_table_holds_every_bug_of_the_catalogue():
    assert set(EXPECTED) == set(MUTANTS)


@pytest.mark.parametrize("name", EXPECTED)
def test_a_known_bug_is_diagnosed(name):
    findings = diagnose.diagnose(list(mutant_records(name)))
    component, relation, also = EXPECTED[name]
    assert findings and named(findings) == {component, *also}, [(f.component, f.relation) for f in findings]
    assert findings[0].relation == relation, findings[0]
    assert findings[0].cases_failing >= 1 and findings[0].summary.startswith(findings[0].component)
    assert findings[0].matches == []  # replay off: the catalogue played no part


@pytest.mark.parametrize("name", EXPECTED)
def test_replaying_the_catalogue_names_the_bug(name):
    replayed = diagnose.diagnose(list(mutant_records(name)), replay_catalogue=True)
    assert name in replayed[0].matches and f"matches the catalogue's {', '.join(replayed[0].matches)}" in \
        replayed[0].summary
    plain = diagnose.diagnose(list(mutant_records(name)))
    assert [(f.component, f.relation) for f in replayed] == [(f.component, f.relation) for f in plain]


def test_compact_records_of_passing_cases_give_the_same_diagnosis():
    mutant = next(m for m in CATALOGUE if m.name == "elu_prime_forgot_one")
    found = []

    @settings(max_examples=40, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(cs.problems(**mutant.reveals))
    def run(problem):
        found.append(check.check(problem, Sut(mutant.spec, mutant.sut, None), ["torch", "fd"]))

    run()
    full = [{"kind": "case", "phase": "generate", **r.to_json()} for r in found]
    written = [{"kind": "case", "phase": "generate", **r.record()} for r in found]  # as the plugin writes them
    passing = [r for r in written if r["verdict"] == "pass"]
    assert passing and all("margins" in r and "comparisons" not in r for r in passing)
    assert all(r.get("tensors") for r in written if r["verdict"] == "fail" and r["first_divergence"] != "answer")
    assert diagnose.diagnose(written) == diagnose.diagnose(full) != []


def test_a_correct_sut_is_diagnosed_with_nothing():
    assert diagnose.diagnose(records(Sut("reference_impl:backprop", reference_impl.backprop, None), n=40)) == []


def test_two_equally_consistent_components_are_both_named():
    mutant = next(m for m in CATALOGUE if m.name == "bce_sign_flipped")  # sigmoid output, always with bce
    findings = diagnose.diagnose(records(Sut(mutant.spec, mutant.sut, None), **mutant.reveals))
    assert {f.component for f in findings[:2]} == {"sigmoid", "bce"}
    assert "equally consistent with the evidence" in findings[0].summary


def test_the_command_prints_findings_as_json(tmp_path):
    mutant = next(m for m in CATALOGUE if m.name == "leaky_slope_lost")
    path = tmp_path / "r.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records(Sut(mutant.spec, mutant.sut, None), n=60,
                                                                    **mutant.reveals)))
    proc = subprocess.run([sys.executable, "-m", "crosscheck", "diagnose", str(path), "--json"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stderr
    (findings,) = json.loads(proc.stdout).values()
    assert {"component", "tensor", "layers", "relation", "matches", "cases_failing", "cases_total",
            "summary"} <= set(findings[0])
    assert findings[0]["component"] == "leaky_relu" and findings[0]["relation"] == "ratio 0"


def test_replaying_the_catalogue_names_the_bug_it_reproduces():
    mutant = next(m for m in CATALOGUE if m.name == "leaky_slope_lost")
    findings = diagnose.diagnose(records(Sut(mutant.spec, mutant.sut, None), **mutant.reveals),
                                 replay_catalogue=True)
    assert findings[0].matches == ["leaky_slope_lost"] and "matches the catalogue's leaky_slope_lost" in \
        findings[0].summary


def test_a_bug_outside_the_catalogue_is_said_to_be_unknown():
    def backprop(case, params, X, Y):  # leaky slope 10x too large: the catalogue has only "slope lost"
        out = reference_impl.backprop(case, params, X, Y)
        return {k: v for k, v in out.items()}

    mutant = next(m for m in CATALOGUE if m.name == "leaky_slope_lost")

    def ten_times(case, params, X, Y):
        from reference_impl import activations, mlp

        original = activations.ACTIVATIONS["leaky_relu"]
        activations.ACTIVATIONS["leaky_relu"] = (original[0], lambda Z, A: np.where(Z >= 0, 1, 0.1).astype(Z.dtype))
        try:
            return mlp.backprop(case, params, X, Y)
        finally:
            activations.ACTIVATIONS["leaky_relu"] = original

    findings = diagnose.diagnose(records(Sut("ten_times", ten_times, None), **mutant.reveals), replay_catalogue=True)
    assert findings[0].component == "leaky_relu" and findings[0].relation == "ratio 10"
    assert findings[0].matches == [] and "no bug of the catalogue reproduces it" in findings[0].summary


def test_a_bug_confined_to_saturated_entries_is_said_to_be():
    class Clipped(Backprop):  # sigmoid' from A clipped to [1e-4, 1 - 1e-4]: right until the unit saturates
        def act_prime(self, name, Z, A):
            if name == "sigmoid":
                A = np.clip(A, 1e-4, 1 - 1e-4)
            return Backprop.act_prime(self, name, Z, A)

    found = records(Sut("clipped", Clipped(), None), n=40, supports={"activations": ["sigmoid", "identity"]},
                    scales=("large",), dtypes=("float64",))
    assert any(r["verdict"] == "pass" for r in found)  # unsaturated cases come out right
    findings = diagnose.diagnose(found)
    assert findings[0].component == "sigmoid" and findings[0].relation == "only where saturated", findings[0]


class _FirstExampleDW(Backprop):
    """dW from the first example alone: its outer product A_prev[0]^T dZ[0]."""

    def weight_grad(self, rows, A_prev, dZ):
        return A_prev[:1].T @ dZ[:1] if rows else dZ[:, :1] @ A_prev[:, :1].T


class _DbFromAbove(Backprop):
    """Every layer's db but the output's replaced by the db of the layer above (an index off by one)."""

    def finish(self, case, grads):
        L = len(case["activations"])
        return {**grads, **{f"db{l}": grads[f"db{l + 1}"] for l in range(1, L)}}


@pytest.mark.parametrize("sut, reveals, expected", [
    (_FirstExampleDW(), {"min_batch": 2}, ("weights", "first example only")),
    (_DbFromAbove(), {"supports": {"sizes": [[3, 3, 3, 3]]}}, ("bias", "another layer's tensor")),
])
def test_a_tensor_equal_to_another_tensor_of_the_case_is_named(sut, reveals, expected):
    findings = diagnose.diagnose(records(Sut(type(sut).__name__, sut, None), n=30, **reveals))
    assert (findings[0].component, findings[0].relation) == expected, [(f.component, f.relation) for f in findings]


def test_a_buggy_formula_s_own_roundings_do_not_hide_its_catalogue_match():
    # the example SUT's sigmoid'(A) on a saturated sigmoid: 1 - sigmoid(A) cancels, and the SUT and the
    # catalogue's form of the same bug round differently there (2e-13 relative: far more than the correct
    # form's error model charges); one such case among the failures must not veto the match
    import importlib.util
    from pathlib import Path

    from crosscheck import problems

    path = Path(__file__).resolve().parents[1] / "examples" / "suts" / "buggy_sigmoid_at_a.py"
    spec = importlib.util.spec_from_file_location("buggy_sigmoid_at_a_example", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sut = Sut("buggy_sigmoid_at_a", module.backprop, None)
    saturated = {"activations": ["sigmoid"], "batch": 22, "contract_version": "1.1", "dtype": "float64",
                 "layout": "rows", "loss": "cross_entropy", "reduction": "mean", "scale": "large", "seed": 1602,
                 "sizes": [4, 10]}
    failing = [{"kind": "case", "phase": "generate", **check.check(problems.build(saturated), sut,
                                                                   ["torch", "fd"]).to_json()}]
    failing += [r for r in records(sut, n=10, **MUTANTS["sigmoid_prime_at_A"].reveals) if r["verdict"] == "fail"]
    assert failing[0]["verdict"] == "fail" and len(failing) > 1
    (finding, *_) = diagnose.diagnose(failing, replay_catalogue=True)
    assert "sigmoid_prime_at_A" in finding.matches, finding.summary


def test_the_command_says_when_its_files_hold_no_case_record(tmp_path):
    empty = tmp_path / "notes.jsonl"
    empty.write_text('{"not": "a record"}\n')
    proc = subprocess.run([sys.executable, "-m", "crosscheck", "diagnose", str(empty)], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 2 and "holds no case record: nothing to diagnose" in proc.stdout


def test_a_file_mixing_several_bugs_is_diagnosed_per_failure():
    # three independent bugs (examples/suts/three_bugs.py), each in cases of its own, in one results file: each
    # failure gets its own component and relation, and a catalogue bug is credited only with the records whose
    # values it explains (a dW in float64 whose values agree keeps no tensor to replay: replaying the failing
    # records of the whole file used to credit sigmoid_prime_at_A with the dtype failures as well)
    from crosscheck import problems
    from crosscheck.sut import load

    def case(seed, activations, loss, dtype, reduction="sum", batch=3):
        sizes = [3, *[4] * (len(activations) - 1), 2]
        return dict(contract_version="1.1", sizes=sizes, activations=activations, loss=loss, layout="rows",
                    dtype=dtype, reduction=reduction, batch=batch, seed=seed, scale="unit")

    others = (["relu", "identity"], ["tanh", "elu"], ["identity", "tanh"])  # no sigmoid: right in the SUT
    reduction = ("sum", "mean", "mean")
    cases = {"values of dZ": [case(s, ["sigmoid", "identity"] if s % 2 else ["tanh", "sigmoid"], "sse", "float64",
                                   reduction[s % 3]) for s in range(6)],
             "values of db": [case(s, others[s % 3], "half_sse", "float64", "mean", batch=2 + s) for s in range(6)],
             "dtype of dW": [case(s, others[s % 3], "sse", "float32", reduction[s % 3]) for s in range(6)],
             "pass": [case(s, others[s % 3], loss, "float64", reduction[(s + 1) % 3]) for s in range(4)
                      for loss in ("sse", "mse")]}
    sut = load("examples/suts/three_bugs.py:backprop", "none")
    try:
        written = {bug: [{"kind": "case", "phase": "generate",
                          **check.check(problems.build(c), sut, ["torch"]).record()} for c in cs]
                   for bug, cs in cases.items()}
    finally:
        sut.close()
    assert {bug: {r["verdict"] for r in rs} for bug, rs in written.items()} == {
        "values of dZ": {"fail"}, "values of db": {"fail"}, "dtype of dW": {"fail"}, "pass": {"pass"}}
    two = diagnose.diagnose([*written["values of dZ"], *written["dtype of dW"], *written["pass"]],
                            replay_catalogue=True)
    credited = {f.cases_failing for f in two if "sigmoid_prime_at_A" in f.matches}
    assert credited == {6}, [f.summary for f in two]  # its own six cases, not the dtype's six too
    findings = diagnose.diagnose([r for rs in written.values() for r in rs], replay_catalogue=True)
    assert {"sigmoid", "half_sse", "dtype"} <= {f.component for f in findings}, [f.summary for f in findings]
    lead = {f.failure: f for f in reversed(findings)}  # the first finding of each failure
    assert set(lead) == set(cases) - {"pass"}, [(f.failure, f.summary) for f in findings]
    assert (lead["values of dZ"].component, lead["values of dZ"].cases_failing) == ("sigmoid", 6)
    assert lead["values of dZ"].matches == ["sigmoid_prime_at_A"]
    assert (lead["values of db"].component, lead["values of db"].relation) == ("half_sse", "ratio m")
    assert (lead["dtype of dW"].component, lead["dtype of dW"].relation) == ("dtype", "right values, wrong dtype")
    assert all(f.matches == [] for f in findings if f.failure != "values of dZ")  # no bug explains the others
    text = diagnose.render(findings)
    assert text.startswith("diagnosis: 3 distinct failures") and text.count("matches the catalogue's") == 1, text


def test_two_wrong_derivatives_are_diagnosed_each_at_its_activation():
    # both bugs show in dZ; their cases share only a component half the passing cases have too (reduction sum):
    # each activation's cases are diagnosed on their own, and each names its own catalogue bug
    from crosscheck import problems

    class TwoDerivatives(Backprop):
        def act_prime(self, name, Z, A):
            if name == "sigmoid":
                return _sigmoid(A) * (1 - _sigmoid(A))  # sigmoid' taken at A
            if name == "tanh":
                return 1 - np.tanh(Z)  # tanh' without its square
            return Backprop.act_prime(self, name, Z, A)

    def case(seed, activations, reduction="sum"):
        return dict(contract_version="1.1", sizes=[3, 4, 2], activations=activations, loss="sse", layout="rows",
                    dtype="float64", reduction=reduction, batch=3, seed=seed, scale="unit")

    cases = [*(case(s, ["relu", "sigmoid"]) for s in range(5)), *(case(s, ["relu", "tanh"]) for s in range(5)),
             *(case(s, ["relu", "identity"], reduction) for s in range(4) for reduction in ("sum", "mean"))]
    sut = Sut("two_derivatives", TwoDerivatives(), None)
    written = [{"kind": "case", "phase": "generate", **check.check(problems.build(c), sut, ["torch"]).record()}
               for c in cases]
    assert [r["verdict"] for r in written] == ["fail"] * 10 + ["pass"] * 8
    findings = diagnose.diagnose(written, replay_catalogue=True)
    lead = {f.failure: f for f in reversed(findings)}
    assert {n: (f.component, f.cases_failing, f.matches) for n, f in lead.items()} == {
        "values of dZ at a sigmoid layer": ("sigmoid", 5, ["sigmoid_prime_at_A"]),
        "values of dZ at a tanh layer": ("tanh", 5, ["tanh_prime_unsquared"])}, diagnose.render(findings)

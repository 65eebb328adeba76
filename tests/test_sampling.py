"""Sampled checks of wide networks (crosscheck.sampling): the probes, their oracle, their
tolerance, and that a sampled check still catches and localizes a bug, and says what it checked."""

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import reference_impl
from crosscheck import check, contract, problems, sampling, tolerance
from crosscheck import strategies as cs
from crosscheck.compare import compare_probes
from crosscheck.sut import Sut
from oracles import finite_differences as fd
from reports.build import build_report

CASE = dict(contract_version="1.0", sizes=[30, 48, 24, 5], activations=["tanh", "sigmoid", "softmax"],
            loss="cross_entropy", layout="rows", dtype="float64", reduction="mean", batch=12, seed=5, scale="unit",
            sample={"units": 3})


def shifted(key, index, delta):
    """The reference implementation with one entry of one tensor (rows-layout index) moved by delta."""
    def backprop(case, params, X, Y):
        out = reference_impl.backprop(case, params, X, Y)
        out[key] = contract.to_rows(case, {key: out[key].copy()})[key]
        out[key][index] += delta
        out[key] = contract.from_rows(case, {key: out[key]})[key].copy()
        return out
    return Sut("shifted", backprop, None)


def test_the_plan_is_drawn_from_the_case_alone():
    a, b = sampling.plan(CASE, 12), sampling.plan(dict(CASE), 12)
    assert a.keys() == b.keys() == set(contract.gradient_shapes({**CASE, "layout": "rows"}, 12))
    for key in a:
        assert np.array_equal(a[key].entries, b[key].entries) and np.array_equal(a[key].direction, b[key].direction)
    assert not np.array_equal(a["dW1"].direction, sampling.plan({**CASE, "seed": 6}, 12)["dW1"].direction)
    units = a["dW2"].units
    assert len(units) == 3 and len(set(units)) == 3 and all(0 <= u < 24 for u in units)
    rows = np.unravel_index(a["dA0"].entries, (12, 30))[0]
    assert rows.tolist() == list(range(12))  # one dA0 entry per example
    assert np.all(a["dZ1"].direction != 0) and len(np.unique(a["dZ1"].direction)) == a["dZ1"].direction.size


@settings(max_examples=30, deadline=None)
@given(problem=cs.problems(dtypes=("float64",), sample_units=2))
def test_probed_finite_differences_equal_the_full_ones_at_every_probe(problem):
    params, X, Y = problem.rows64()
    m = X.shape[0]
    probes = sampling.plan(problem.case, m)
    full, probed = fd.gradients(problem.case, params, X, Y), fd.probed(problem.case, params, X, Y, probes)
    S = tolerance.bounds({**problem.case, "layout": "rows"}, params, X, Y).S
    fan_in = tolerance.probe_sums(problem.case, m)
    for key, p in probes.items():
        allowed = tolerance.probes_allowed(p, S[key], full[key], "float64", "float64", fan_in,
                                           fd.UNDERFLOW_GAIN, fd.UNDERFLOW_GAIN)
        c = compare_probes(key, "fd~fd", full[key], probed[key], allowed, p)
        assert c.passed and c.total == p.count, (key, c)


@pytest.mark.parametrize("dtype", contract.DTYPES)
@pytest.mark.parametrize("layout", contract.LAYOUTS)
def test_a_sampled_case_of_the_reference_passes_and_says_what_it_checked(dtype, layout):
    problem = problems.build({**CASE, "dtype": dtype, "layout": layout})
    result = check.check(problem, Sut("reference_impl:backprop", reference_impl.backprop, None), ["torch", "fd"])
    assert result.verdict == "pass", result.message()
    assert result.probed == ["fd"]
    by = {(c.against, c.tensor): c for c in result.comparisons}
    assert by[("torch", "dW1")].total == 30 * 48 and by[("torch", "dW1")].checked is None
    assert by[("fd", "dW1")].total == 30 * 3 + 1
    assert "one random Gaussian direction over all 1440 entries" in by[("fd", "dW1")].checked
    assert {c.against for c in result.oracle_pairs} == {"torch~fd"}


def test_a_bug_outside_the_sampled_units_is_caught_by_the_direction_and_localized():
    problem = problems.build(CASE)
    missed = next(j for j in range(24) if j not in sampling.units_of(CASE, 2))
    result = check.check(problem, shifted("dW2", (7, missed), 1e-4), ["fd"])
    assert result.verdict == "fail" and result.first_divergence == "dW2", result.message()
    c = next(c for c in result.comparisons if c.tensor == "dW2")
    assert c.mismatched == 1 and c.worst_index == []  # the direction, the one probe that reaches it
    assert "(along the random direction)" in result.message()


@pytest.mark.parametrize("seed", range(8))
def test_equal_errors_in_every_example_do_not_cancel_along_the_direction(seed):
    # the same wrong term in every example of an unsampled unit: under ±1 signs the errors of 12
    # examples would cancel whenever the signs balance (23% of draws); a Gaussian direction never
    case = {**CASE, "seed": seed}
    missed = next(j for j in range(24) if j not in sampling.units_of(case, 2))

    def backprop(case, params, X, Y):
        out = reference_impl.backprop(case, params, X, Y)
        out["dZ2"] = out["dZ2"].copy()
        out["dZ2"][:, missed] += 1e-4
        return out

    result = check.check(problems.build(case), Sut("same-error", backprop, None), ["fd"])
    assert result.verdict == "fail" and result.first_divergence == "dZ2", result.message()


def test_a_bug_in_a_sampled_entry_is_located_at_its_index():
    problem = problems.build(CASE)
    unit = int(sampling.units_of(CASE, 1)[1])
    result = check.check(problem, shifted("dZ1", (4, unit), 1e-6), ["fd"])
    assert result.verdict == "fail" and result.first_divergence == "dZ1", result.message()
    c = next(c for c in result.comparisons if c.tensor == "dZ1")
    assert c.worst_index == [4, unit]


def test_the_direction_allowance_is_the_documented_formula_and_a_bound():
    # allowed(<v, dT>) = sum |v| allowed_i + gamma_N sum |v| |full| + gamma_K sum |v| S_i (docs/sampling.md),
    # with K = 2 sum(sizes) + m + 2; a difference just beyond it fails, just within it passes
    problem = problems.build(CASE)
    params, X, Y = problem.rows64()
    probes = sampling.plan(CASE, 12)["dW3"]
    value = fd.gradients(CASE, params, X, Y)["dW3"]
    S = tolerance.bounds(CASE, params, X, Y).S["dW3"]
    K = tolerance.probe_sums(CASE, 12)
    assert K == 2 * (30 + 48 + 24 + 5) + 12 + 2
    allowed = tolerance.probes_allowed(probes, S, value, "float32", "float64", K)
    per_entry = tolerance.allowed(S, "float32", "float64")
    v, u, N = np.abs(probes.direction), 2.0**-53, value.size
    terms = [(v * per_entry).sum(), N * u / (1 - N * u) * (v * np.abs(value)).sum(),
             K * u / (1 - K * u) * (v * S[0]).sum()]
    assert all(t > 0 for t in terms)
    assert allowed[-1] == pytest.approx(sum(terms), rel=1e-12)
    assert np.array_equal(allowed[:-1], per_entry.reshape(-1)[probes.entries])
    exact = probes.of(value)
    for factor, passes in [(0.99, True), (1.01, False)]:
        moved = exact.copy()
        moved[-1] += factor * allowed[-1]
        assert compare_probes("dW3", "x", value, moved, allowed, probes).passed is passes


def test_a_wrong_shape_against_probes_is_named():
    probes = sampling.plan(CASE, 12)["dW1"]
    c = compare_probes("dW1", "fd", np.zeros((48, 30)), np.zeros(probes.count), np.ones(probes.count), probes)
    assert not c.passed and "shape (48, 30)" in c.problem and c.checked


@pytest.mark.parametrize("sample, named", [({"units": 0}, "'units'"), ({"unit": 3}, "'sample'"),
                                           (3, "'sample'"), ({"units": True}, "'units'")])
def test_a_bad_sample_is_rejected_with_its_key(sample, named):
    with pytest.raises(contract.ContractError, match=named):
        contract.validate_case({**CASE, "sample": sample})


def test_strategies_make_sampled_cases_and_check_their_argument():
    from hypothesis.errors import InvalidArgument
    with pytest.raises(InvalidArgument, match="sample_units"):
        cs.cases(sample_units=0).example()

    @settings(max_examples=5, deadline=None)
    @given(case=cs.cases(sample_units=4))
    def every_case_is_sampled(case):
        assert case["sample"] == {"units": 4}
        contract.validate_case(case)
    every_case_is_sampled()


def test_the_report_states_the_entries_each_probe_checked(tmp_path):
    problem = problems.build(CASE)
    missed = next(j for j in range(24) if j not in sampling.units_of(CASE, 2))
    result = check.check(problem, shifted("dW2", (7, missed), 1e-4), ["torch", "fd"])
    passing = check.check(problem, Sut("reference_impl:backprop", reference_impl.backprop, None), ["torch", "fd"])
    results = tmp_path / "sampled.jsonl"
    results.write_text("".join(json.dumps({"test": f"t::sampled{i}", "worker": None, "kind": "case", "env": "x",
                                           **r.record()}, sort_keys=True) + "\n"  # the passing one compact
                               for i, r in enumerate([result, passing])))
    out = tmp_path / "sampled.html"
    build_report([results], out)
    html = out.read_text()
    assert "fd answered only probes" in html
    units = [int(u) for u in sampling.units_of(CASE, 2)]
    assert f"the columns of units {units}" in html
    assert "along the random direction" in html
    # every sampled case, passing ones too, lists what its probes covered, tensor by tensor
    section = html[html.index('<section id="sampled">'):]
    section = section[:section.index("</section>")]
    assert section.count('<details class="sampled-case">') == 2
    described = sampling.plan(CASE, 12)["dW2"].describe()
    assert section.count(f"<tr><td>dW2</td><td>{described}</td></tr>") == 2


@settings(max_examples=10, deadline=None)
@given(st.data())
def test_probes_of_a_tensor_are_its_entries_then_its_direction(data):
    p = sampling.plan(CASE, 12)[data.draw(st.sampled_from(sorted(sampling.plan(CASE, 12))))]
    a = np.random.default_rng(0).normal(size=p.shape)
    values = p.of(a)
    assert values.shape == (p.count,)
    assert np.array_equal(values[:-1], a.reshape(-1)[p.entries])
    assert values[-1] == pytest.approx(float((p.direction * a).sum()), rel=1e-12)
    assert p.index(p.count - 1) == [] and p.index(0) == list(np.unravel_index(p.entries[0], p.shape))


def test_probes_are_kept_out_of_recorded_values_and_full_counts(tmp_path, capsys):
    from crosscheck.__main__ import main
    result = check.check(problems.build(CASE), Sut("reference_impl:backprop", reference_impl.backprop, None),
                         ["torch", "fd"], keep_values=True)
    assert set(result.values) == {"torch"}  # fd's probes are not tensors: environments compare entries
    results = tmp_path / "r.jsonl"
    run = [{"kind": "run_start"}, {"kind": "case", **result.record()},
           {"kind": "run", "completed": True, "exitstatus": 0}]
    results.write_text("".join(json.dumps(r) + "\n" for r in run))  # a finished run, as the plugin writes it
    assert main(["summary", str(results), "--min-cases", "1", "--require-oracles", "torch,fd"]) == 1
    out = capsys.readouterr().out
    assert "fd 1 (1 probes only)" in out and "checked in full by every one of torch, fd: 0" in out
    assert main(["summary", str(results), "--min-cases", "1", "--require-oracles", "torch"]) == 0


def test_probe_values_of_the_wrong_length_are_named():
    probes = sampling.plan(CASE, 12)["db1"]
    c = compare_probes("db1", "fd", np.zeros((1, 48)), np.zeros(probes.count + 1), np.ones(probes.count + 1), probes)
    assert not c.passed and f"expected ({probes.count},)" in c.problem

"""The shortcuts of a checked case give what the plain computations give: ``compare_all`` the Comparisons
of ``compare`` one tensor at a time, and a built problem's kept bounds those computed afresh."""

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from crosscheck import problems
from crosscheck import strategies as cs
from crosscheck.compare import compare, compare_all

finite = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False, width=64)
anything = st.floats(width=64)  # NaN and inf too: compare ranks them worst


@st.composite
def items(draw):
    out = []
    for k in range(draw(st.integers(1, 12))):
        shape = draw(hnp.array_shapes(min_dims=0, max_dims=2, min_side=1, max_side=4))
        reference = draw(hnp.arrays(np.float64, shape, elements=finite))
        kind = draw(st.sampled_from(["near", "same", "wild", "float32", "misshaped", "zeros"]))
        if kind == "same":
            value = reference.copy()
        elif kind == "wild":
            value = draw(hnp.arrays(np.float64, shape, elements=anything))
        elif kind == "misshaped":
            value = np.zeros(shape + (2,))
        elif kind == "zeros":
            value, reference = np.zeros(shape), np.zeros(shape)
        else:
            value = reference + draw(hnp.arrays(np.float64, shape, elements=st.floats(-1e-3, 1e-3)))
            value = value.astype(np.float32) if kind == "float32" else value
        # no subnormal (err / allowed would overflow), and NaN now and then (it fails even an exact value)
        tolerance = st.one_of(st.just(0.0), st.floats(1e-12, 1e-3), st.just(np.nan))
        allowed = draw(st.one_of(tolerance, hnp.arrays(np.float64, shape, elements=tolerance)))
        out.append((f"t{k}", draw(st.sampled_from(["torch", "jax~fd"])), value, reference, allowed,
                    draw(st.sampled_from([None, "float64"]))))
    return out


@settings(max_examples=300, deadline=None)
@given(items())
def test_compare_all_gives_what_compare_gives_tensor_by_tensor(items):
    got = [c.to_json() for c in compare_all(items)]
    want = [compare(t, against, v, r, a, e).to_json() for t, against, v, r, a, e in items]
    assert repr(got) == repr(want)  # repr: NaN equals NaN, and 0.0 differs from -0.0


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cs.cases())
def test_a_built_problem_keeps_the_bounds_a_fresh_computation_gives(case):
    built = problems.build(case)
    fresh = problems.Problem(built.case, built.params, built.X, built.Y).bounds()
    assert built.S is not None and built.S.keys() == fresh.keys()
    assert all(np.array_equal(built.S[k], fresh[k]) for k in fresh)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cs.problems(), st.sampled_from(["same", "perturbed", "float32", "missing", "misshaped", "not a dict"]))
def test_a_cases_one_pass_gives_what_compare_gives_tensor_by_tensor(problem, how):
    """``check``'s one pass over every answer pair (each answer flattened once) against ``compare`` per tensor."""
    from crosscheck import check, contract, tolerance
    from oracles import ORACLES

    params, X, Y = problem.rows64()
    oracle = ORACLES["fd"].gradients(problem.case, params, X, Y)
    sut = {k: v.copy() if k != "loss" else v for k, v in oracle.items()}
    if how == "perturbed":
        sut = {k: v * (1 + 1e-9) for k, v in sut.items()}
    elif how == "float32":
        sut = {k: np.asarray(v, np.float32) if k != "loss" else v for k, v in sut.items()}
    elif how == "missing":
        sut.pop("dW1")
    elif how == "misshaped":
        sut["db1"] = sut["db1"].reshape(-1)
    elif how == "not a dict":
        sut = {}
    order, S = contract.backward_order(problem.case), problem.bounds()
    queue = check._OnePass()
    slots = check._compare_answers(order, sut, oracle, "fd", "float64", S, "float64", queue=queue)
    queue.run()
    got = [c.to_json() for c in queue.resolved(slots)]
    keys = [k for k in ["loss", *order] if k in sut]
    want = [compare(k, "fd", np.asarray(float(sut[k])) if k == "loss" else sut[k], np.asarray(oracle[k]),
                    tolerance.allowed(S[k], "float64", "float64"), None if k == "loss" else "float64").to_json()
            for k in keys]
    assert repr(got) == repr(want)

"""Assertion helpers for tests: fail with a message that says what, where and by how much."""

from __future__ import annotations

import numpy as np

from crosscheck import contract, tolerance
from crosscheck.check import CaseResult, describe
from crosscheck.compare import compare
from crosscheck.problems import Problem


def assert_passes(result: CaseResult) -> None:
    """Raise AssertionError with the full crosscheck report unless the case passed (or is unsupported)."""
    __tracebackhide__ = True
    if result.failed:
        raise AssertionError(result.message())


def assert_gradients_agree(problem: Problem, actual: dict, expected: dict, *, actual_dtype: str,
                           expected_dtype: str = "float64", keys=None) -> None:
    """Every key of ``actual`` (in the problem's layout) agrees with ``expected`` within the error model."""
    __tracebackhide__ = True
    case = problem.case
    S = tolerance.bounds({**case, "layout": "rows"}, *problem.rows64()).S
    failures = []
    for key in keys or [k for k in ["loss"] + contract.backward_order(case) if k in expected]:
        a, e = np.asarray(actual[key], np.float64), np.asarray(expected[key], np.float64)
        if key != "loss":
            a, e = a if case["layout"] == "rows" else a.T, e if case["layout"] == "rows" else e.T
        c = compare(key, "expected", a, e, tolerance.allowed(S[key], actual_dtype, expected_dtype))
        if not c.passed:
            failures += describe(c)
    if failures:
        raise AssertionError("gradients disagree:\n" + "\n".join(failures))


def assert_published(value: float, published: str, *, what: str) -> None:
    """``value`` rounds to the figure as printed: within half a unit of its last shown digit."""
    __tracebackhide__ = True
    allowed = tolerance.published_rounding(published)
    if not abs(value - float(published)) <= allowed:
        raise AssertionError(f"{what}: computed {value!r}, published {published} "
                             f"(differs by {abs(value - float(published)):.3g}, rounding allows {allowed:.3g})")

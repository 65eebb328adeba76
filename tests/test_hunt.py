"""Keep going: the hunt separates a SUT's independent bugs, shrinks each and diagnoses each."""

import json
import subprocess
import sys

import numpy as np
import pytest

import reference_impl
from crosscheck import check, hunt, problems, results
from crosscheck.sut import Sut, load

THREE_BUGS = "examples/suts/three_bugs.py:backprop"
EXPECTED = {  # signature: the component its diagnosis names first
    "dtype of dW": "dtype",
    "values of dZ at a sigmoid layer": "sigmoid",
    "values of db": "half_sse",
}


@pytest.fixture(scope="module")
def three_bugs():
    sut, records = load(THREE_BUGS, "none"), []
    yield sut, hunt.hunt(sut, 30, ["torch", "fd"], max_cases=100, seed=0, on_record=records.append), records
    sut.close()


def test_three_independent_bugs_are_three_signatures(three_bugs):
    _, report, _ = three_bugs
    assert [s.signature for s in report.signatures if s.cases] and {s.signature for s in report.signatures} == \
        set(EXPECTED), hunt.render(report)
    assert report.cases == 100 and report.failing >= sum(1 for s in report.signatures if s.cases)


def test_each_signature_is_shrunk_to_a_small_case_that_shows_it(three_bugs):
    sut, report, _ = three_bugs
    for s in report.signatures:
        assert s.shrunk and sum(s.minimal["sizes"]) <= 3 and len(s.minimal["sizes"]) == 2, (s.signature, s.minimal)
        result = check.check(problems.build(s.minimal), sut, ["torch", "fd"])
        assert s.signature in hunt.signatures(result)
        assert s.reproduce == result.reproduce() and s.message.startswith("backprop-crosscheck: FAIL")


def test_each_signature_is_diagnosed_on_its_own(three_bugs):
    _, report, records = three_bugs
    for s in report.signatures:
        assert s.findings and s.findings[0]["component"] == EXPECTED[s.signature], (s.signature, s.findings)
    db = next(s for s in report.signatures if s.signature == "values of db")
    # the 1/m of the mean forgotten, in db only: 'ratio m', or m itself when every such case has one batch size
    batches = {r["case"]["batch"] for r in records if r["phase"] == "generate" and (r.get("first_divergence") or "")
               .startswith("db")}
    assert db.findings[0]["relation"] in ["ratio m", *(f"ratio {m}" for m in batches if len(batches) == 1)]
    assert "sigmoid_prime_at_A" in next(s for s in report.signatures if "sigmoid" in s.signature).findings[0]["matches"]


def test_a_dtype_defect_does_not_hide_a_wrong_gradient_in_the_same_case(three_bugs):
    # a float32 case through a sigmoid layer: one case, two signatures
    sut, _, _ = three_bugs
    case = dict(contract_version="1.0", sizes=[2, 3], activations=["sigmoid"], loss="sse", layout="rows",
                dtype="float32", reduction="sum", batch=3, seed=1, scale="unit")
    result = check.check(problems.build(case), sut, ["torch"])
    assert set(hunt.signatures(result)) == {"dtype of dW", "values of dZ at a sigmoid layer"}


def test_a_correct_sut_has_no_signature():
    report = hunt.hunt(Sut("reference_impl:backprop", reference_impl.backprop, reference_impl.supports), 10,
                       ["torch"], max_cases=25, seed=0)
    assert report.cases == 25 and report.signatures == [] and report.failing == 0


@pytest.mark.parametrize("text, seconds", [("60s", 60), ("2m", 120), ("90", 90), ("0.5h", 1800)])
def test_budgets_read_as_durations(text, seconds):
    assert hunt.parse_budget(text) == seconds


@pytest.mark.parametrize("text", ["", "0s", "-3s", "ten", "5 days"])
def test_a_bad_budget_is_refused_with_its_reason(text):
    with pytest.raises(ValueError, match="expected a positive duration"):
        hunt.parse_budget(text)


def test_the_command_prints_json_and_writes_a_complete_results_file(tmp_path):
    path = tmp_path / "hunt.jsonl"
    proc = subprocess.run([sys.executable, "-m", "crosscheck", "hunt", "--sut", THREE_BUGS, "--budget", "60s",
                           "--max-cases", "40", "--seed", "0", "--oracles", "torch", "--isolation", "none", "--json",
                           "--no-replay", "--results", str(path)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stderr
    report = json.loads(proc.stdout)
    assert report["cases"] == 40 and report["signatures"]
    assert {s["signature"] for s in report["signatures"]} <= set(EXPECTED)
    read = results.read([str(path)])
    assert all(f.complete for f in read.files)
    cases = [r for r in read.records if r.get("kind") == "case"]
    assert sum(r["phase"] == "generate" for r in cases) == report["cases"]
    assert np.all([isinstance(r["signatures"], list) for r in cases])
    assert read.files[0].reasons == ["the run ended with `python -m crosscheck hunt` exit status 1"]  # not pytest's

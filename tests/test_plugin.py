"""The pytest plugin end to end, in a fresh pytest process: --sut, --results, xdist, usage errors."""

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytest_plugins = ["pytester"]

CROSSCHECK_TEST = '''
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from crosscheck import strategies as cs

@pytest.mark.crosscheck
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@settings(max_examples={n}, deadline=None, derandomize=True, print_blob=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_it(crosscheck, dtype, data):
    crosscheck(data.draw(cs.problems(crosscheck.sut.supports, dtypes=(dtype,), max_depth=2, max_width=4,
                                     max_batch=4)))
'''


def read(path):
    return [json.loads(line) for line in Path(path).read_text().splitlines()]


@pytest.fixture
def run(pytester, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.chdir(pytester.path)

    def go(*args, n=6):
        pytester.makepyfile(test_it=CROSSCHECK_TEST.format(n=n))
        return pytester.runpytest_subprocess("-p", "no:cacheprovider", *args)
    return go


def test_results_file_holds_every_case_under_xdist(run, pytester):
    result = run("-n", "2", "--results", "out/results.jsonl", n=8)
    result.assert_outcomes(passed=2)
    records = read(pytester.path / "out" / "results.jsonl")
    run_records = [r for r in records if r["kind"] == "run"]
    records = [r for r in records if r["kind"] == "case"]
    assert len(run_records) == 1 and run_records[0]["versions"]["numpy"] and run_records[0]["workers"] == 2
    summary = next(line for line in result.outlines if "cases checked" in line)
    assert f"{len(records)} cases checked: {len(records)} pass" in summary
    assert len(records) >= 16 and {r["worker"] for r in records} == {"gw0", "gw1"}
    assert all(r["verdict"] == "pass" and set(r["oracles"]) == {"torch", "jax", "fd"} for r in records)
    assert all(all(s["ran"] for s in r["oracles"].values()) for r in records)
    # a passing case's record is compact: its margins, not its comparisons, in at most 2 kB
    lines = [x for x in (pytester.path / "out" / "results.jsonl").read_bytes().splitlines() if b'"kind": "case"' in x]
    assert len(lines) == len(records) and max(len(x) + 1 for x in lines) <= 2048
    assert all(r["record_version"] == 2 and "comparisons" not in r and "tensors" not in r for r in records)
    assert all(set(r["margins"]) == {"torch", "jax", "fd"} and len(r["pair_margins"]) == 3 for r in records)
    assert not list((pytester.path / "out").glob("*.part")), "worker part files are merged away"


def test_a_buggy_sut_fails_naming_the_first_diverging_tensor(run, pytester):
    buggy = ROOT / "examples" / "suts" / "buggy_sigmoid_at_a.py"
    result = run(f"--sut={buggy}:backprop", "--results", "r.jsonl", n=30)
    assert result.ret == 1
    text = result.stdout.str()
    assert "backprop-crosscheck: FAIL" in text
    assert "first diverging tensor in backward order: dZ" in text
    assert "reproduce: python -m crosscheck reproduce --sut" in text
    records = read(pytester.path / "r.jsonl")
    failed = [r for r in records if r["kind"] == "case" and r["verdict"] == "fail"]
    blobs = [r for r in records if r["kind"] == "blob"]
    assert blobs and all(r["blob"].startswith("@reproduce_failure(") for r in blobs)
    assert failed and all("sigmoid" in r["case"]["activations"] for r in failed)
    for r in failed:  # a failing case keeps everything: each comparison, and the tensors diagnose reads
        assert r["record_version"] == 2 and "margins" not in r
        assert {c["against"] for c in r["comparisons"]} == {"torch", "jax", "fd"} and r["oracle_pairs"]
        assert r["tensors"]["tensor"] == r["first_divergence"] and r["tensors"]["sut"]
    passed = [r for r in records if r["kind"] == "case" and r["verdict"] == "pass"]
    assert passed and all("margins" in r and "comparisons" not in r for r in passed)
    for r in failed:
        # the bug sits in the last sigmoid layer's derivative: that dZ is the first to diverge
        last_sigmoid = max(i for i, a in enumerate(r["case"]["activations"], start=1) if a == "sigmoid")
        assert r["first_divergence"] == f"dZ{last_sigmoid}"


def test_record_detail_keeps_every_comparison_of_a_passing_case(run, pytester):
    result = run("--record-detail", "--oracles=torch,fd", "--results", "d.jsonl", n=2)
    result.assert_outcomes(passed=2)
    records = [r for r in read(pytester.path / "d.jsonl") if r["kind"] == "case"]
    assert records and all(r["verdict"] == "pass" and r["record_version"] == 2 and "margins" not in r for r in records)
    for r in records:
        tensors = {c["tensor"] for c in r["comparisons"]}
        assert "loss" in tensors and len(r["comparisons"]) == 2 * len(tensors) == 2 * len(r["oracle_pairs"])
        assert r["reproduce"].startswith("python -m crosscheck reproduce --sut")


def test_an_unloadable_sut_is_a_usage_error(run):
    result = run("--sut=no_such_module_abc:backprop", n=1)
    assert result.ret != 0
    assert "importing 'no_such_module_abc' failed" in result.stderr.str() + result.stdout.str()


def test_an_unknown_oracle_is_a_usage_error(run):
    result = run("--oracles=torch,theano", n=1)
    assert result.ret != 0
    assert "--oracles: unknown ['theano']; valid: torch, jax, fd" in result.stderr.str()


def test_one_oracle_can_be_chosen(run, pytester):
    result = run("--oracles=fd", "--results", "fd.jsonl", n=3)
    result.assert_outcomes(passed=2)
    records = [r for r in read(pytester.path / "fd.jsonl") if r["kind"] == "case"]
    assert records and all(set(r["oracles"]) == {"fd"} for r in records)

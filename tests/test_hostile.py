"""The gate never lies: hostile SUTs (tests/hostile/), each run as a user runs the cross-check.

Every run here is a fresh ``python -m pytest`` of the project's own cross-check tests with
``--sut=tests/hostile/NAME.py:backprop``, the ``hostile`` profile (6 cases a test) and the
finite-difference oracle alone (the oracles are not what is under test). Each asserts the verdict,
that the run went on around the misbehaviour, that the record is there, and that ``summary``
and the report tell the truth.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from crosscheck import check, results

ROOT = Path(__file__).resolve().parents[1]
HOSTILE = ROOT / "tests" / "hostile"
SUITE = ROOT / "crosscheck" / "suite.py"
AGREE = "test_gradients_agree_with_oracles"


def env(*path):
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(map(str, (ROOT, *path)))}


def suite(tmp_path, sut, *args, k=AGREE, oracles="fd", timeout=300, env_path=None):
    """Run the cross-check tests on a hostile SUT; returns (completed process, records)."""
    spec = sut if ":" in sut else f"{HOSTILE / sut}.py:backprop"
    out = tmp_path / "r.jsonl"
    cmd = [sys.executable, "-m", "pytest", str(SUITE), "-q", "-p", "no:cacheprovider", "--hypothesis-profile=hostile",
           f"--sut={spec}", f"--oracles={oracles}", "--results", str(out), "-k", k, *args]
    proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=timeout,
                          env=env(*([env_path] if env_path else [])))
    files = [p for p in [out, *results.parts_of(out)] if p.exists()]  # a run that ended early left parts
    records = [json.loads(line) for p in files for line in p.read_text().splitlines()]
    return proc, records


def summary(*paths, extra=()):
    return subprocess.run([sys.executable, "-m", "crosscheck", "summary", *map(str, paths), *extra],
                          capture_output=True, text=True, env=env(), timeout=120)


def report(path, tmp_path):
    from reports.build import build_report

    return build_report([path], tmp_path / "report.html").read_text()


def verdicts(records):
    return [r["verdict"] for r in records if r.get("kind") == "case"]


def closing(records):
    (run,) = [r for r in records if r.get("kind") == "run"]
    return run


ONE, TWO = (), ("-n", "2")


@pytest.mark.parametrize("sut, says, workers", [
    ("sys_exit", "the SUT called sys.exit(0)", ONE),
    ("os_exit", "exited with status 0", ONE),
    ("os_exit", "exited with status 0", TWO),
    ("segfault", "killed by SIGSEGV", ONE),
    ("segfault", "killed by SIGSEGV", TWO),
], ids=lambda x: " ".join(x) if isinstance(x, tuple) else x if len(x) < 20 else None)
def test_a_crash_costs_one_case_and_is_recorded(tmp_path, sut, says, workers):
    proc, records = suite(tmp_path, sut, *workers)
    assert proc.returncode == 1, proc.stdout[-3000:]
    v = verdicts(records)
    assert v.count("crashed") == 2, v  # one per float32 test: recorded once, never shrunk
    assert v.count("pass") >= 10  # the float64 tests ran on
    crashed = [r for r in records if r.get("verdict") == "crashed"]
    assert all(says in r["problems"][0] and "reproduce" in r for r in crashed), crashed[0]["problems"]
    run = closing(records)
    assert run["completed"] and run["exitstatus"] == 1 and run["cases"]["crashed"] == 2
    assert "2 failed, 2 passed" in proc.stdout and "CRASHED" in proc.stdout
    if sut == "segfault":  # the child's faulthandler says where
        assert "segfault.py" in crashed[0]["output"], crashed[0]["output"]
    s = summary(tmp_path / "r.jsonl")
    assert s.returncode == 1 and "crashed 2" in s.stdout, s.stdout


@pytest.mark.parametrize("sut, workers", [("hang", ONE), ("hang", TWO), ("slow", ONE)],
                         ids=["hang", "hang -n 2", "slow"])
def test_a_hang_times_out_and_the_run_goes_on(tmp_path, sut, workers):
    start = time.monotonic()
    proc, records = suite(tmp_path, sut, "--case-timeout=2", *workers)
    assert time.monotonic() - start < 120
    assert proc.returncode == 1, proc.stdout[-3000:]
    v = verdicts(records)
    assert v.count("timeout") == 2 and v.count("pass") >= 10, v
    t = next(r for r in records if r.get("verdict") == "timeout")
    assert "2 s time limit" in t["problems"][0]
    assert closing(records)["cases"]["timeout"] == 2


def test_a_memory_hog_is_stopped_at_the_memory_limit(tmp_path):
    proc, records = suite(tmp_path, "memory_hog", "--case-memory=200")
    assert proc.returncode == 1
    hogs = [r for r in records if r.get("verdict") == "crashed"]
    assert len(hogs) == 2 and "memory limit of 200 MiB" in hogs[0]["problems"][0]


def test_a_sut_that_grows_without_end_stops_itself_while_the_oracles_run():
    """The parent watches the SUT's memory only while it waits for the answer, and runs the oracles first: the SUT's
    process stops itself at the limit, however long the oracles take."""
    from crosscheck import boundary, problems

    child = boundary.Child(f"{HOSTILE / 'memory_grows.py'}:backprop", memory_mb=200, timeout=60)
    try:
        case = {"contract_version": "1.0", "sizes": [2, 2], "activations": ["tanh"], "loss": "sse", "layout": "rows",
                "dtype": "float32", "reduction": "mean", "batch": 3, "seed": 0, "scale": "unit"}
        p = problems.build(case)
        outcome = child.begin(p.case, p.params, p.X, p.Y)
        deadline = time.monotonic() + 30
        while child._proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)  # this process does not look at the child's memory meanwhile
        assert child._proc.returncode == boundary.OVER_MEMORY
        got = outcome()
        assert got.kind == "crashed" and "memory limit of 200 MiB" in got.message and "stopped itself" in got.message
    finally:
        child.close()


def test_an_answer_past_the_time_limit_is_a_timeout_even_when_it_waited_to_be_read():
    """The test process reads the answer after running the oracles: an answer that came after the limit while it
    was busy is still a timeout (the SUT's own time says so)."""
    from crosscheck import boundary, problems

    child = boundary.Child(f"{HOSTILE / 'sluggish.py'}:backprop", timeout=1.0)  # 0.6 s a call, two calls a case
    try:
        case = {"contract_version": "1.0", "sizes": [2, 2], "activations": ["tanh"], "loss": "sse", "layout": "rows",
                "dtype": "float64", "reduction": "mean", "batch": 3, "seed": 0, "scale": "unit"}
        p = problems.build(case)
        outcome = child.begin(p.case, p.params, p.X, p.Y)
        time.sleep(2.0)  # the oracles, slow: the answer is waiting by now
        got = outcome()
        assert got.kind == "timeout" and "1 s time limit" in got.message and got.seconds > 1.0, got
    finally:
        child.close()


HUNG_ORACLE = """
import json, sys
sys.path.insert(0, sys.argv[1])
import hang_fd_oracle  # the finite-difference oracle hangs
from crosscheck import check, problems, sut
case = json.loads(sys.argv[3])
check.check(problems.build(case), sut.load(sys.argv[2]), ["torch", "fd"], oracle_timeout=2,
            on_hang=lambda r: print("RECORDED", json.dumps([r.verdict, r.problems, r.sut_seconds]), flush=True))
"""


@pytest.mark.parametrize("dtype, verdict", [("float32", "crashed"), ("float64", "oracle_error")])
def test_a_hung_oracle_leaves_the_suts_own_verdict_when_the_sut_did_not_answer(dtype, verdict):
    # the SUT's process works while the oracles run: when one hangs, a case the SUT did not answer is still recorded
    # on its own outcome, as when the SUT was called first; one it answered is an oracle_error, with the SUT's time
    case = {"contract_version": "1.0", "sizes": [2, 2], "activations": ["tanh"], "loss": "sse", "layout": "rows",
            "dtype": dtype, "reduction": "mean", "batch": 3, "seed": 0, "scale": "unit"}
    proc = subprocess.run([sys.executable, "-c", HUNG_ORACLE, str(HOSTILE),
                           f"{HOSTILE / 'exits_declaring_supports.py'}:backprop", json.dumps(case)],
                          capture_output=True, text=True, env=env(), timeout=120, cwd=ROOT)
    assert proc.returncode == check.ORACLE_HANG_EXIT, proc.stderr[-2000:]
    got, problems_, sut_seconds = json.loads(proc.stdout.split("RECORDED ", 1)[1])
    assert got == verdict, problems_
    if verdict == "crashed":
        assert "exited with status 3" in problems_[0]
    else:
        assert "oracle fd did not answer" in problems_[0] and sut_seconds > 0


def test_a_case_left_behind_by_an_error_is_not_taken_for_the_next():
    from crosscheck import problems
    from crosscheck import sut as _sut

    loaded = _sut.load(f"{HOSTILE / 'hangs_declaring_supports.py'}:backprop", timeout=3)
    try:
        hangs = {"contract_version": "1.0", "sizes": [2, 2], "activations": ["tanh"], "loss": "sse",
                 "layout": "rows", "dtype": "float32", "reduction": "mean", "batch": 3, "seed": 0, "scale": "unit"}
        with pytest.raises(KeyError):
            check.check(problems.build(hangs), loaded, ["no such oracle"])  # raises while the SUT still works
        answers = check.check(problems.build({**hangs, "dtype": "float64"}), loaded, ["torch"])
        assert answers.verdict == "pass", answers.problems
    finally:
        loaded.close()


def test_a_sut_that_implements_nothing_never_passes(tmp_path):
    proc, records = suite(tmp_path, "implements_nothing")
    assert proc.returncode == 1, proc.stdout[-2000:]
    assert "4 skipped" in proc.stdout and "passed" not in proc.stdout.splitlines()[-1]
    assert "the SUT answered no case" in proc.stdout
    assert set(verdicts(records)) == {"unsupported"}
    assert closing(records)["cases"]["checked"] == 0
    s = summary(tmp_path / "r.jsonl", extra=["--min-cases", "1"])
    assert s.returncode == 1 and "cases checked: 0" in s.stdout, s.stdout
    html = report(tmp_path / "r.jsonl", tmp_path)
    assert "RUN FAILED: r.jsonl: the run ended with pytest exit status 1" in html and "PASS:" not in html


@pytest.mark.parametrize("sut, says", [
    ("supports_nothing", "supports['dtypes'] is empty"),
    ("import_error", "ModuleNotFoundError: No module named 'a_module_that_does_not_exist'"),
    ("missing_file", "does not exist"),
    (f"{HOSTILE / 'sys_exit.py'}:no_such_function", "has no callable 'no_such_function'"),
])
def test_a_sut_that_cannot_load_is_one_usage_error(tmp_path, sut, says):
    proc, records = suite(tmp_path, sut)
    assert proc.returncode == 4, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert says in proc.stderr
    assert len((proc.stdout + proc.stderr).splitlines()) < 10
    assert not [r for r in records if r.get("kind") == "case"]


@pytest.mark.parametrize("sut, says", [
    ("edits_case", "the SUT changed its input case['dtype'] in place ('float32' -> 'float64')"),
    ("appends_activation", "case['activations']"),
    ("pops_seed", "the SUT removed case['seed'] from its input"),
])
def test_a_sut_that_edits_its_inputs_fails_by_name(tmp_path, sut, says):
    proc, records = suite(tmp_path, sut)
    assert proc.returncode == 1
    failed = [r for r in records if r.get("verdict") == "fail"]
    assert failed and all(says in r["problems"][0] for r in failed), failed[0]["problems"]
    # the harness's own copy is untouched: the record and the reproduce command keep every key
    assert all(r["case"]["dtype"] == "float32" and "seed" in r["case"] and '"seed"' in r["reproduce"]
               for r in failed)


def test_buffers_reused_between_calls_are_caught(tmp_path):
    proc, records = suite(tmp_path, "reuses_buffers", k=f"{AGREE} and float64 and rows")
    assert proc.returncode == 1
    failed = [r for r in records if r.get("verdict") == "fail"]
    assert failed and "differs between two calls with the same inputs" in " ".join(failed[0]["problems"])


def test_extra_return_keys_are_ignored_and_listed(tmp_path):
    proc, records = suite(tmp_path, "extra_keys", k=f"{AGREE} and float64")
    assert proc.returncode == 0, proc.stdout[-3000:]
    cases = [r for r in records if r.get("kind") == "case"]
    assert cases and set(verdicts(records)) == {"pass"}
    assert cases[0]["extra_keys"] == ["cache", "callback", "config", "note", "seconds"]


def test_two_runs_on_one_results_file_are_refused(tmp_path):
    lock = results.Lock(tmp_path / "r.jsonl")
    lock.acquire("pid 12345 on ci, started just now")
    try:
        proc, _ = suite(tmp_path, "extra_keys", k=f"{AGREE} and float64")
    finally:
        lock.release()
    assert proc.returncode == 4
    assert "is being written by another run (pid 12345 on ci, started just now)" in proc.stderr


def test_a_killed_run_is_incomplete_and_its_parts_are_found(tmp_path):
    out = tmp_path / "r.jsonl"
    cmd = [sys.executable, "-m", "pytest", str(SUITE), "-q", "-p", "no:cacheprovider", "--hypothesis-profile=hostile",
           f"--sut={HOSTILE / 'hang.py'}:backprop", "--oracles=fd", "--results", str(out), "-k", AGREE,
           "-n", "2", "--case-timeout=600"]
    proc = subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env(),
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # until some cases are recorded and both workers hang
            parts = results.parts_of(out)
            if sum(p.read_text().count('"verdict": "pass"') for p in parts) >= 12:
                break
            time.sleep(0.5)
        time.sleep(2)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    s = summary(out)
    assert s.returncode == 1
    assert "INCOMPLETE" in s.stdout and "never merged" in s.stdout and "did not finish" in s.stdout, s.stdout
    assert "pass 12" in s.stdout or "pass 1" in s.stdout  # the parts' cases are read, not lost
    html = report(out, tmp_path)
    assert "INCOMPLETE: r.jsonl" in html and "never merged" in html and "PASS:" not in html


def test_a_run_whose_process_vanished_is_incomplete_even_when_pytest_says_0(tmp_path):
    # unprotected (--isolation=none), os._exit(0) ends pytest itself with status 0: the results
    # file still says the run never finished
    proc, records = suite(tmp_path, "os_exit", "--isolation=none")
    assert proc.returncode == 0
    assert [r["kind"] for r in records if r.get("kind") != "case"] == [results.START] or records == []
    s = summary(tmp_path / "r.jsonl")
    assert s.returncode == 1 and "INCOMPLETE" in s.stdout


def test_summary_skips_truncated_and_binary_lines_and_says_so(tmp_path):
    proc, _ = suite(tmp_path, "extra_keys", k=f"{AGREE} and float64 and rows")
    assert proc.returncode == 0
    path = tmp_path / "r.jsonl"
    text = path.read_bytes()
    path.write_bytes(text + b'{"kind": "case", "verdict": "pa\n' + b"\x00\xff\xfe binary\n")
    s = summary(path)
    assert s.returncode == 1 and "2 line(s) are truncated or not JSON records" in s.stdout
    assert "Traceback" not in s.stdout + s.stderr


def test_summary_of_an_empty_or_missing_file_fails_cleanly(tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    s = summary(empty)
    assert s.returncode == 1 and "INCOMPLETE" in s.stdout and "no record" in s.stdout
    s = summary(tmp_path / "missing.jsonl")
    assert s.returncode == 2 and "missing.jsonl" in s.stderr and "Traceback" not in s.stderr


def test_pinned_cases_honour_supports(tmp_path):
    proc, records = suite(tmp_path, "sum_only", k="test_pinned_case")
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "28 passed" in proc.stdout
    assert {r["case"]["reduction"] for r in records if r.get("kind") == "case"} == {"sum"}


GOOD = {"activations": ["tanh"], "batch": 3, "contract_version": "1.0", "dtype": "float64", "layout": "rows",
        "loss": "sse", "reduction": "mean", "scale": "unit", "seed": 1, "sizes": [2, 2]}


@pytest.mark.parametrize("change, says", [
    ({"sizes": [100000, 100000]}, "more than --max-elements"),
    ({"batch": 0}, "case['batch'] must be >= 1, got 0"),
    ({"batch": "3"}, "case['batch'] must be an integer, got '3'"),
    ({"sizes": [2]}, "case['sizes'] must be [n0, n1, ..., nL]"),
    ({"loss": "l2"}, "unknown loss 'l2'"),
], ids=["huge", "batch 0", "batch as a string", "one size", "unknown loss"])
def test_reproduce_validates_the_case_before_allocating(change, says):
    proc = subprocess.run([sys.executable, "-m", "crosscheck", "reproduce", "--oracles=fd",
                           json.dumps({**GOOD, **change})], capture_output=True, text=True, env=env(), timeout=120)
    assert proc.returncode == 2 and says in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr


def test_reproduce_says_which_file_is_missing(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "crosscheck", "reproduce", f"@{tmp_path / 'nope.json'}"],
                          capture_output=True, text=True, env=env(), timeout=120)
    assert proc.returncode == 2 and "nope.json" in proc.stderr and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("usage: python -m crosscheck reproduce ")  # the subcommand's usage


@pytest.mark.parametrize("args, says", [
    (["check"], "check needs --sut SPEC"),
    (["summary", "nope.jsonl"], "cannot read nope.jsonl"),
    (["hunt", "--sut", "reference_impl:backprop", "--budget", "soon"], "soon"),
], ids=["check", "summary", "hunt"])
def test_a_usage_error_prints_its_subcommands_usage_and_exits_2(args, says):
    proc = subprocess.run([sys.executable, "-m", "crosscheck", *args], capture_output=True, text=True, env=env(),
                          timeout=120)
    assert proc.returncode == 2 and says in proc.stderr, proc.stderr
    assert proc.stderr.startswith(f"usage: python -m crosscheck {args[0]} ") and "Traceback" not in proc.stderr


def test_reproduce_runs_a_printed_command_with_a_space_in_the_path(tmp_path):
    folder = tmp_path / "my suts"
    folder.mkdir()
    (folder / "mine.py").write_text("from reference_impl import backprop\n")
    record = suite(tmp_path, f"{folder / 'mine.py'}:backprop", k=f"{AGREE} and float64 and rows")[1][1]
    assert "reproduce" not in record, "a passing case's record is compact: its command is made from its case"
    proc = subprocess.run(check.reproduce_of(record).replace("python", sys.executable, 1) + " --oracles=fd", shell=True,
                          capture_output=True, text=True, env=env(), timeout=120, cwd=tmp_path)
    assert proc.returncode == 0 and "backprop-crosscheck: PASS" in proc.stdout, proc.stderr


def test_the_first_answer_is_held_to_the_contract_too(tmp_path):
    proc, records = suite(tmp_path, "alternating", k=f"{AGREE} and float64 and rows")
    assert proc.returncode == 1
    failed = [r for r in records if r.get("verdict") == "fail"]
    assert failed and "first call: backprop must return a dict, got NoneType" in failed[0]["problems"]


def test_an_answer_that_would_run_code_when_read_is_read_as_plain_data(tmp_path):
    proc, records = suite(tmp_path, "sneaky_subclass", k=f"{AGREE} and float64")
    assert proc.returncode == 0, proc.stdout[-3000:]  # the values are right; the subclass never crossed
    assert set(verdicts(records)) == {"pass"} and closing(records)["exitstatus"] == 0


def test_a_complex_loss_is_not_a_real_number(tmp_path):
    proc, records = suite(tmp_path, "complex_loss")
    assert proc.returncode == 1
    failed = [r for r in records if r.get("verdict") == "fail"]
    assert failed and "'loss' must be a real number, got complex" in failed[0]["problems"][0]


def test_declining_a_case_inside_the_declared_supports_fails(tmp_path):
    proc, records = suite(tmp_path, "declines_inside_supports")
    assert proc.returncode == 1
    failed = [r for r in records if r.get("verdict") == "fail"]
    assert failed and "the SUT declined a case inside its declared supports" in failed[0]["problems"][0]
    assert "unsupported" not in verdicts(records)


def test_a_forked_copy_of_the_sut_cannot_answer_for_it(tmp_path):
    proc, records = suite(tmp_path, "forks", k=f"{AGREE} and float64 and rows")
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert verdicts(records).count("pass") == 6


def test_what_the_sut_started_dies_with_it(tmp_path):
    proc, records = suite(tmp_path, "leaves_a_grandchild", k=f"{AGREE} and rows")
    assert proc.returncode == 1 and "crashed" in verdicts(records)
    time.sleep(0.5)
    left = subprocess.run(["pgrep", "-f", "sleep 987.25"], capture_output=True, text=True)
    assert left.stdout.strip() == "", "a process the SUT started outlived it"


def test_a_hung_oracle_is_recorded_and_ends_its_process(tmp_path):
    start = time.monotonic()
    proc, records = suite(tmp_path, "extra_keys", "-p", "hang_fd_oracle", "--oracle-timeout=2",
                          k=f"{AGREE} and float64 and rows", env_path=HOSTILE)
    assert time.monotonic() - start < 60
    assert proc.returncode == 75  # ended by the watchdog (its stderr line is captured by pytest)
    hung = [r for r in records if r.get("verdict") == "oracle_error"]
    assert hung and "oracle fd did not answer within 2 s" in hung[0]["problems"][0]
    s = summary(tmp_path / "r.jsonl")
    assert s.returncode == 1 and "INCOMPLETE" in s.stdout and "oracle_error 1" in s.stdout


def test_a_slow_sut_is_said_to_be_slow_as_soon_as_it_is(tmp_path):
    proc, records = suite(tmp_path, "sluggish", "--case-timeout=4", k=f"{AGREE} and float64 and rows")
    assert proc.returncode == 0
    assert proc.stdout.count("more than a quarter of --case-timeout=4") == 2  # at once, and in the summary


def test_two_answers_are_one_object_only_when_they_are_the_same_bits():
    from crosscheck import boundary

    a = {"loss": 0.5, "dW1": np.array([[0.0, np.nan]]), "db1": np.float32(1.5), "x": boundary._Opaque("list")}
    assert boundary._identical(a, {k: v.copy() if hasattr(v, "copy") else v for k, v in a.items()})
    for key, other in [("loss", 0.5000000000000001), ("dW1", np.array([[-0.0, np.nan]])),
                       ("dW1", np.array([[0.0, np.nan]], np.float32)), ("db1", np.float64(1.5)),
                       ("x", boundary._Opaque("tuple"))]:
        assert not boundary._identical(a, {**a, key: other}), key
    assert not boundary._identical(a, {k: v for k, v in a.items() if k != "x"})
    case = {"contract_version": "1.0", "sizes": [2, 2], "activations": ["tanh"], "loss": "sse", "layout": "rows",
            "dtype": "float64", "reduction": "mean", "batch": 3, "seed": 0, "scale": "unit"}
    from crosscheck import problems
    from reference_impl import backprop

    p = problems.build(case)
    same = boundary.call_twice(backprop, p.case, p.params, p.X, p.Y)
    assert same.first is same.second
    calls = []

    def drifting(case, params, X, Y):  # state kept between calls: the second answer differs
        calls.append(1)
        out = backprop(case, params, X, Y)
        return {**out, "dW1": out["dW1"] * len(calls)}

    differ = boundary.call_twice(drifting, p.case, p.params, p.X, p.Y)
    assert differ.first is not differ.second and not np.array_equal(differ.first["dW1"], differ.second["dW1"])

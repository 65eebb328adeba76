"""What a checked case costs beyond the limit (the SUT called twice and the three oracles), from one run.

    OMP_NUM_THREADS=1 python benchmarks/overhead.py [--cases 400] [--rounds 1] [--profile check|pytest]
    OMP_NUM_THREADS=1 python benchmarks/overhead.py --soak 60000 [--workers 2] [--mark 10000]
    python benchmarks/overhead.py --gate 150 [--workers 2]

One process, one thread. Each round runs the shipped cross-check test of the default strategy
(``crosscheck/suite.py::test_gradients_agree_with_oracles``, its four dtype/layout tests) with
``pytest.main`` in this process under the thorough profile (cut to ``--cases / --rounds`` cases a round,
isolation on, a results file written). As soon as a case's record is written, the same case is timed
three more ways, so that every row meets the same machine load (their time is left out of the pytest
path's):

* the limit: ``reference_impl.backprop`` twice and the torch, JAX and finite-difference oracles, in
  process, on arrays prepared beforehand;
* ``check()`` with the SUT in its child process (the default) and in process: their difference is the
  isolation overhead;
* the pytest path per case: the time from one case record to the next, the first of each round left
  out with the start-up it carries (imports, the SUT's process, JAX's compilation); Hypothesis, the
  problem build, the check, the record and pytest's own work between tests are in.

It also times two no-op ``@given`` tests on the same strategy (Hypothesis drawing the case alone, and
drawing it with its arrays built), the floor under the pytest path, 25 examples after every 25 cases.
``--profile`` prints where ``check()`` or the pytest path spends its time (cProfile).

``--soak N`` instead runs the thorough soak (``-m crosscheck``, N cases in all over the six generated
tests, ``--workers`` xdist workers) and prints, for each worker, its peak resident memory after its first
10,000 cases and at its end, and the size of the results file. ``--gate PER_TEST`` times the ci gate
(``CI=true``, ``-m crosscheck``, ``--workers`` workers) from a cold start, with the crosscheck-ci profile
cut or extended to PER_TEST cases a generated test.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import pytest  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from crosscheck import check as _check  # noqa: E402
from crosscheck import contract, problems, profiles  # noqa: E402, F401  (profiles registers thorough)
from crosscheck import strategies as cs  # noqa: E402
from crosscheck import sut as _sut  # noqa: E402
from oracles import ORACLES  # noqa: E402

TEST = "crosscheck/suite.py::test_gradients_agree_with_oracles"
PROFILE = "overhead"
SOAK_MARK = 10_000
NOOP_EVERY = 25


class Timestamps:
    """A pytest plugin: the time the pytest path takes from one case record to the next, with ``measure(case)``
    run on each case as soon as its record is written, its time left out of the path's."""

    def __init__(self, measure, profiler: cProfile.Profile | None):
        self.measure, self.profiler = measure, profiler
        self.intervals: list[float] = []
        self.resumed: float | None = None

    @pytest.hookimpl(trylast=True)
    def pytest_configure(self, config):
        session = config._crosscheck
        record = session.record

        def timed(result, nodeid, phase):
            record(result, nodeid, phase)
            if self.resumed is not None:  # the first case of a run carries its start-up: left out
                self.intervals.append(time.perf_counter() - self.resumed)
            if self.profiler:
                self.profiler.disable()
            self.measure(result.case)
            if self.profiler:
                self.profiler.enable()
            self.resumed = time.perf_counter()

        session.record = timed


def run_pytest(per_test: int, seed: int, results: Path, stamps: Timestamps) -> None:
    settings.register_profile(PROFILE, parent=settings.get_profile("thorough"), max_examples=per_test)
    args = [str(ROOT / TEST), "-q", "-p", "no:randomly", "-p", "no:cacheprovider", "--hypothesis-profile", PROFILE,
            f"--hypothesis-seed={seed}", "--results", str(results), "-o", "addopts=", "--rootdir", str(ROOT)]
    out = io.StringIO()
    stdout, sys.stdout = sys.stdout, out
    try:
        if stamps.profiler:
            stamps.profiler.enable()
        code = pytest.main(args, plugins=[stamps])
    finally:
        if stamps.profiler:
            stamps.profiler.disable()
        sys.stdout = stdout
    if code != 0:
        print(out.getvalue()[-3000:])
        raise SystemExit(f"pytest exited {code}")


def limit_once(problem, backprop, rows) -> float:
    """The SUT twice and the three oracles, in process: the least a full check can cost."""
    case, params, X, Y = problem.case, problem.params, problem.X, problem.Y
    start = time.perf_counter()
    backprop(case, params, X, Y)
    backprop(case, params, X, Y)
    for oracle in ORACLES.values():
        oracle.gradients(case, *rows)
    return time.perf_counter() - start


def noop_given(strategy, n: int):
    """A @given test that does nothing with what it draws (the thorough profile's settings), made before any
    test runs (Hypothesis refuses to make one inside another). Calling it runs n examples and one, and gives
    the seconds per example beyond the first, so that the cost of starting a test is left out."""
    calls = []

    def made(examples):
        @settings(settings.get_profile("thorough"), max_examples=examples, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(data=st.data())
        def test(data):
            data.draw(strategy, label="problem")
            calls.append(1)

        return test

    tests = made(n), made(1)

    def timed() -> float:
        seconds = []
        for test in tests:
            calls.clear()
            start = time.perf_counter()
            test()
            seconds.append((time.perf_counter() - start, len(calls)))
        (many, n_many), (one, n_one) = seconds
        return (many - one) / (n_many - n_one)

    return timed


def per_core_line(name: str, seconds: float, limit: float) -> str:
    return f"| {name} | {seconds * 1e3:.3f} ms | {seconds / limit:.2f}x | {1 / seconds:.0f} |"


def overhead(args) -> None:
    import torch

    torch.set_num_threads(1)
    isolated, here = _sut.load(), _sut.load(isolation="none")
    backprop = here.backprop
    warm = problems.build({"contract_version": contract.CONTRACT_VERSION, "sizes": [3, 4, 2],
                           "activations": ["tanh", "softmax"], "loss": "cross_entropy", "layout": "rows",
                           "dtype": "float64", "reduction": "mean", "batch": 5, "seed": 0, "scale": "unit"})
    _check.check(warm, isolated)  # JAX's compilation and the SUT's process: start-up, left out
    per_test = max(1, args.cases // args.rounds // 4)
    t = {"limit": [], "check": [], "check_here": [], "pytest": [], "noop_cases": [], "noop_problems": [],
         "check_cpu": [], "check_here_cpu": []}

    def child_cpu() -> float:
        """CPU seconds the SUT's process has used (it works while check() runs the oracles)."""
        with open(f"/proc/{isolated.child._proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    check_profiler = cProfile.Profile() if args.profile == "check" else None

    noop_cases, noop_problems = noop_given(cs.cases(), NOOP_EVERY), noop_given(cs.problems(), NOOP_EVERY)

    def timed_check(p, sut, key, verdicts):
        cpu = child_cpu() if sut is isolated else 0.0
        start, start_cpu = time.perf_counter(), time.process_time()
        if check_profiler and sut is isolated:
            check_profiler.enable()
        verdicts.append(_check.check(p, sut).verdict)
        if check_profiler:
            check_profiler.disable()
        t[key].append(time.perf_counter() - start)
        t[key + "_cpu"].append(time.process_time() - start_cpu + (child_cpu() - cpu if sut is isolated else 0.0))

    def measure(case):  # on the case pytest has just checked, while the machine's load is what it was then
        p = problems.build(case)
        rows = p.rows64()
        verdicts = []
        ways = [lambda: t["limit"].append(limit_once(p, backprop, rows)),
                lambda: timed_check(p, isolated, "check", verdicts),
                lambda: timed_check(p, here, "check_here", verdicts)]
        k = len(t["limit"]) % 3  # each way first as often as the others
        for way in ways[k:] + ways[:k]:
            way()
        assert verdicts == ["pass", "pass"], (verdicts, case)
        if len(t["limit"]) % NOOP_EVERY == 0:  # the no-op floors, in slices between the cases, under the same load
            t["noop_cases"].append(noop_cases())
            t["noop_problems"].append(noop_problems())

    load = [os.getloadavg()[0]]
    results_bytes = []
    pytest_profiler = cProfile.Profile() if args.profile == "pytest" else None
    for r in range(args.rounds):
        stamps = Timestamps(measure, pytest_profiler)
        with tempfile.TemporaryDirectory() as tmp:
            results = Path(tmp) / "results.jsonl"
            run_pytest(per_test, r, results, stamps)
            results_bytes += [len(line) for line in results.read_bytes().splitlines()
                              if b'"kind": "case"' in line]
        t["pytest"] += stamps.intervals
        load.append(os.getloadavg()[0])
    n = len(t["limit"])
    isolated.close()
    profiler = check_profiler or pytest_profiler
    noop_cases, noop_problems = float(np.mean(t["noop_cases"])), float(np.mean(t["noop_problems"]))

    limit = float(np.mean(t["limit"]))
    check_ = float(np.mean(t["check"]))
    here_ = float(np.mean(t["check_here"]))
    pytest_ = float(np.mean(t["pytest"]))
    print(f"{n} cases of the default strategy ({args.rounds} rounds of {TEST}, thorough profile, "
          f"{per_test} cases per dtype/layout test), one process, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}; "
          f"load average {', '.join(f'{x:.2f}' for x in load)} (start, after each round)")
    print("| per case | mean | × the limit | cases per second per core |")
    print("|---|---|---|---|")
    print(per_core_line("the limit: the SUT twice and the three oracles, in process", limit, limit))
    print(per_core_line("`check()`, SUT in its child process (the default)", check_, limit))
    print(per_core_line("`check()`, SUT in process (`--isolation=none`)", here_, limit))
    print(per_core_line("pytest, thorough profile, start-up excluded (isolation on)", pytest_, limit))
    print(per_core_line("no-op `@given`: Hypothesis drawing the case", noop_cases, limit))
    print(per_core_line("no-op `@given`: drawing the case and building its arrays", noop_problems, limit))
    print(f"isolation overhead per case (check() in its child process - in process): {(check_ - here_) * 1e3:.3f} ms "
          f"of wall time; of CPU time, this process's and the SUT's together: "
          f"{(np.mean(t['check_cpu']) - np.mean(t['check_here_cpu'])) * 1e3:.3f} ms "
          f"(check() {np.mean(t['check_cpu']) * 1e3:.3f} ms of CPU isolated, "
          f"{np.mean(t['check_here_cpu']) * 1e3:.3f} ms in process: the SUT's process works while the oracles run)")
    print(f"the pytest path's floor: Hypothesis drawing the case + the limit = {(noop_cases + limit) / limit:.2f}x the "
          f"limit, before the case is built, checked or recorded")
    print(f"check() / limit: {check_ / limit:.2f}   pytest / limit: {pytest_ / limit:.2f}   "
          f"(goals: <= 1.5 and <= 2)")
    print(f"case records: median {np.median(results_bytes):.0f} bytes, max {max(results_bytes)} bytes")
    if profiler:
        s = io.StringIO()
        stats = pstats.Stats(profiler, stream=s)
        stats.sort_stats("cumulative").print_stats(r"crosscheck|oracles|hypothesis/core|json|threading|boundary", 45)
        stats.sort_stats("tottime").print_stats(25)
        print(s.getvalue())


class SoakMemory:
    """A pytest plugin, in each xdist worker: its peak resident memory after its first 10,000 cases and at its end."""

    def __init__(self, out: Path, mark: int = 10_000):
        self.out, self.n, self.marks, self.mark = out, 0, {}, mark

    @pytest.hookimpl(trylast=True)
    def pytest_configure(self, config):
        session = config._crosscheck
        record = session.record

        def counted(result, nodeid, phase):
            record(result, nodeid, phase)
            self.n += 1
            if self.n == self.mark:
                self.marks["first"] = _peak_mib()

        session.record = counted

    def pytest_sessionfinish(self, session):
        worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
        self.marks.update(cases=self.n, end=_peak_mib(), mark=self.mark)
        (self.out / f"{worker}.json").write_text(json.dumps(self.marks))


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _suite_run(parent: str, per_test: int, workers: int, results: Path, tmp: Path, env: dict, memory: bool,
               mark: int = SOAK_MARK):
    """``pytest -m crosscheck -n WORKERS`` on the shipped suite in a subprocess, under ``parent`` cut or extended
    to ``per_test`` cases a generated test; (exit status, wall seconds)."""
    import subprocess

    plugin = tmp / "overhead_plugin.py"
    plugin.write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(Path(__file__).resolve().parent)!r})\n"
        "from pathlib import Path\n"
        "from hypothesis import settings\n"
        "import crosscheck.profiles\n"
        f"settings.register_profile({PROFILE!r}, parent=settings.get_profile({parent!r}), max_examples={per_test})\n"
        "import pytest\n"
        "@pytest.hookimpl(trylast=True)\n"
        "def pytest_configure(config):\n"
        + (f"    from overhead import SoakMemory\n"
           f"    config.pluginmanager.register(SoakMemory(Path({str(tmp)!r}), {mark}), 'soak-memory')\n" if memory else
           "    pass\n"))
    cmd = [sys.executable, "-m", "pytest", "-m", "crosscheck", "-q", "-n", str(workers), "-p", "overhead_plugin",
           "-p", "no:randomly", f"--hypothesis-profile={PROFILE}", "--results", str(results),
           str(ROOT / "crosscheck/suite.py")]
    env = {**os.environ, **env, "PYTHONPATH": os.pathsep.join([str(tmp), str(ROOT), os.environ.get("PYTHONPATH", "")])}
    start = time.time()
    code = subprocess.call(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
    return code, time.time() - start


def soak(args) -> None:
    """The thorough soak in a pytest subprocess with xdist; each worker reports its peak memory."""
    per_test = args.soak // 6  # four tests of the default strategy, two of sampled wide networks
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        results = Path(args.results or tmp / "soak.jsonl")
        code, wall = _suite_run("thorough", per_test, args.workers, results, tmp, {}, memory=True, mark=args.mark)
        cases = sum(1 for line in results.read_bytes().splitlines() if b'"kind": "case"' in line)
        print(f"soak: {cases} cases ({per_test} per generated test and the pinned ones), {args.workers} workers, "
              f"{wall:.0f} s wall ({cases / wall:.0f} cases a second), exit status {code}; results file "
              f"{results.stat().st_size / 1e6:.1f} MB; load average {os.getloadavg()[0]:.2f}")
        parts = sorted(tmp.glob("gw*.json")) or sorted(tmp.glob("*.json"))  # the workers, else the one process
        for part in parts:
            m = json.loads(part.read_text())
            first = m.get("first")
            growth = f"{100 * (m['end'] / first - 1):+.1f}%" if first else f"n/a (fewer than {m['mark']:,} cases)"
            print(f"worker {part.stem}: {m['cases']} cases, peak RSS after its first {m['mark']:,}: "
                  f"{first or float('nan'):.0f} MiB, at its end: {m['end']:.0f} MiB, growth {growth}")


def gate(args) -> None:
    """The ci gate (``CI=true pytest -m crosscheck -n 2``) from a cold start: no JAX compilation cache."""
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        results = tmp / "gate.jsonl"
        env = {"CI": "true", "OMP_NUM_THREADS": "1", "CROSSCHECK_JAX_CACHE": str(tmp / "jax-cache")}
        load = os.getloadavg()[0]
        code, wall = _suite_run("crosscheck-ci", args.gate, args.workers, results, tmp, env, memory=False)
        cases = sum(1 for line in results.read_bytes().splitlines() if b'"kind": "case"' in line)
        print(f"ci gate, cold start: {cases} cases ({args.gate} per generated test and the pinned ones), "
              f"{args.workers} workers, {wall:.1f} s wall, exit status {code}; load average {load:.2f} -> "
              f"{os.getloadavg()[0]:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=400, help="cases in all (default %(default)s)")
    parser.add_argument("--rounds", type=int, default=1, help="pytest runs, each followed by its cases' timings")
    parser.add_argument("--profile", choices=("check", "pytest"), help="print cProfile's view of one of the paths")
    parser.add_argument("--soak", type=int, metavar="N", help="run the thorough soak of N cases and print memory")
    parser.add_argument("--workers", type=int, default=2, help="xdist workers of --soak (default %(default)s)")
    parser.add_argument("--mark", type=int, default=SOAK_MARK,
                        help="--soak: compare each worker's peak memory after this many cases with its last")
    parser.add_argument("--results", help="--soak: keep its results file here")
    parser.add_argument("--gate", type=int, metavar="PER_TEST",
                        help="time the ci gate from a cold start with PER_TEST cases a generated test (150 ships)")
    args = parser.parse_args()
    os.chdir(ROOT)
    if args.soak:
        soak(args)
    elif args.gate:
        gate(args)
    else:
        overhead(args)


if __name__ == "__main__":
    main()

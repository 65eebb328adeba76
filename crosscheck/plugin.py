"""The pytest plugin: ``--sut``, ``--results``, ``--oracles``, the ``crosscheck`` fixture and the summary.

Results go to one JSON line per checked case. Under pytest-xdist each worker writes its own part
file, line by line and flushed, so a crash loses nothing; the controller merges the parts into
the requested file when the session ends.
"""

from __future__ import annotations

import json
import os
import platform
import re
import time
from collections import Counter
from importlib import metadata
from pathlib import Path

if os.environ.get("PYTEST_XDIST_WORKER"):
    # one BLAS / XLA thread per worker: the workers are the parallelism
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")

import pytest  # noqa: E402

from crosscheck import check as _check  # noqa: E402
from crosscheck import sut as _sut  # noqa: E402
from crosscheck.assertions import assert_passes  # noqa: E402
from oracles import ORACLES  # noqa: E402

COUNTS_KEY = "crosscheck_counts"
BLOB = re.compile(r"@reproduce_failure\([^)]*\)")


def pytest_addoption(parser):
    group = parser.getgroup("crosscheck", "backprop-crosscheck")
    group.addoption("--sut", default=_sut.DEFAULT, metavar="SPEC",
                    help="system under test: pkg.module:func or path/to/file.py:func (default %(default)s)")
    group.addoption("--results", default=None, metavar="FILE.jsonl",
                    help="write one JSON record per checked case to FILE.jsonl")
    group.addoption("--oracles", default=",".join(ORACLES), metavar="NAMES",
                    help="comma-separated oracles to run (default %(default)s)")
    group.addoption("--record-values", action="store_true",
                    help="store every oracle's answer in the results (to compare environments)")
    group.addoption("--env", default=os.environ.get("CROSSCHECK_ENV", "local"), metavar="LABEL",
                    help="the environment's name in the results and reports (default $CROSSCHECK_ENV or 'local')")
    group.addoption("--report", default=None, metavar="FILE.html",
                    help="build the HTML report from this run's results when it ends")


def pytest_configure(config):
    config.addinivalue_line("markers", "crosscheck: cross-checks a SUT's gradients against the oracles")
    config.addinivalue_line("markers", "mutants: the mutant catalogue must be killed and localized")
    names = [n.strip() for n in config.getoption("oracles").split(",") if n.strip()]
    unknown = [n for n in names if n not in ORACLES]
    if unknown:
        raise pytest.UsageError(f"--oracles: unknown {unknown}; valid: {', '.join(ORACLES)}")
    # the JAX oracle's compilation outlives the run (oracles/jax_oracle.py), like Hypothesis's examples
    os.environ.setdefault("CROSSCHECK_JAX_CACHE", str(config.rootpath / ".crosscheck-cache" / "jax"))
    config._crosscheck = Session(config, names)
    config.pluginmanager.register(config._crosscheck, "crosscheck-session")


PROBES_ONLY = ":probes"
"""Counted apart: the runs where an oracle answered a sampled case's probes only."""


class Session:
    """Per-process state: the SUT, the oracle names, the results sink and the verdict counts."""

    def __init__(self, config, oracle_names):
        self.config = config
        self.oracle_names = oracle_names
        self.counts: Counter = Counter()
        self.oracle_runs: Counter = Counter()
        self._sut = None
        results = config.getoption("results")
        report = config.getoption("report")
        if report and not results:
            results = f"{report}.jsonl"  # the report is built from a results file: keep one beside it
        self.results = Path(results).resolve() if results else None
        self.report = Path(report).resolve() if report else None
        self.record_values = config.getoption("record_values")
        self.env = config.getoption("env")
        self.started = time.time()
        self.worker = getattr(config, "workerinput", {}).get("workerid")
        self.sink = None
        if self.results:
            if self.worker:
                self.sink = self.results.with_name(f"{self.results.name}.{self.worker}.part")
            else:
                for stale in self.results.parent.glob(f"{self.results.name}.*.part"):
                    stale.unlink()
                self.sink = self.results
            self.sink.parent.mkdir(parents=True, exist_ok=True)
            self.sink.write_text("")

    @property
    def sut(self) -> _sut.Sut:
        if self._sut is None:
            try:
                self._sut = _sut.load(self.config.getoption("sut"))
            except _sut.SutLoadError as exc:
                raise pytest.UsageError(str(exc)) from None
        return self._sut

    def record(self, result: _check.CaseResult, nodeid: str) -> None:
        self.counts[(result.sut, result.verdict)] += 1
        for name, status in result.oracles.items():
            self.oracle_runs[name] += bool(status["ran"])
            self.oracle_runs[f"{name}{PROBES_ONLY}"] += name in result.probed
        self.write({"kind": "case", "env": self.env, **result.to_json()}, nodeid)

    def run_record(self) -> dict:
        """What the report's summary needs about this run: versions, platform, profile, timing."""
        from hypothesis import settings

        versions = {}
        for name in ("numpy", "scipy", "torch", "jax", "jaxlib", "hypothesis", "pytest"):
            try:
                versions[name] = metadata.version(name)
            except metadata.PackageNotFoundError:
                versions[name] = None
        return {"kind": "run", "env": self.env, "sut": self.config.getoption("sut"),
                "oracles": self.oracle_names, "python": platform.python_version(),
                "platform": platform.platform(), "versions": versions,
                # get_current_profile_name() is recent; older Hypothesis keeps the name privately
                "hypothesis_profile": getattr(settings, "get_current_profile_name",
                                              lambda: getattr(settings, "_current_profile", None))(),
                "hypothesis_seed": self.config.getoption("hypothesis_seed", None),
                "workers": getattr(self.config.option, "numprocesses", None) or 0,
                "started": self.started, "duration": time.time() - self.started}

    def write(self, record: dict, nodeid: str) -> None:
        """Append one record (a checked case, or another kind such as a mutant's kill) to the results."""
        if self.sink:
            line = json.dumps({"test": nodeid, "worker": self.worker, **record}, sort_keys=True)
            with open(self.sink, "a") as f:
                f.write(line + "\n")

    def pytest_runtest_logreport(self, report):
        """Keep Hypothesis's reproduction blob of a failing test beside its cases (the controller
        sees every worker's reports)."""
        if report.failed and report.when == "call" and not self.worker:
            match = BLOB.search(report.longreprtext or "")
            if match:
                self.write({"kind": "blob", "blob": match.group(0)}, report.nodeid)

    def merge(self) -> None:
        if self.worker or not self.results:
            return
        parts = sorted(self.results.parent.glob(f"{self.results.name}.*.part"))
        if not parts:
            return
        with open(self.results, "a") as out:
            for part in parts:
                out.write(part.read_text())
                part.unlink()


class Checker:
    """What the ``crosscheck`` fixture gives a test: check one problem, record it, assert on it."""

    def __init__(self, session: Session, nodeid: str):
        self._session, self._nodeid = session, nodeid

    @property
    def sut(self) -> _sut.Sut:
        return self._session.sut

    def run(self, problem, sut: _sut.Sut | None = None) -> _check.CaseResult:
        result = _check.check(problem, sut or self.sut, self._session.oracle_names, self._session.record_values)
        self._session.record(result, self._nodeid)
        return result

    def __call__(self, problem, sut: _sut.Sut | None = None) -> _check.CaseResult:
        """Check one problem against ``--sut`` (or the given SUT) and fail the test unless it passes."""
        __tracebackhide__ = True
        result = self.run(problem, sut)
        assert_passes(result)
        return result

    def write(self, record: dict) -> None:
        self._session.write(record, self._nodeid)


@pytest.fixture
def crosscheck(request) -> Checker:
    """Check a ``Problem`` against the oracles: ``crosscheck(problem)`` fails the test on a wrong gradient."""
    return Checker(request.config._crosscheck, request.node.nodeid)


@pytest.fixture(scope="session")
def sut(request) -> _sut.Sut:
    """The loaded ``--sut``."""
    return request.config._crosscheck.sut


def pytest_sessionfinish(session):
    state = session.config._crosscheck
    if state.worker:
        session.config.workeroutput[COUNTS_KEY] = {"verdicts": [[s, v, n] for (s, v), n in state.counts.items()],
                                                   "oracles": dict(state.oracle_runs)}
        return
    state.write(state.run_record(), "")
    state.merge()
    if state.report:
        from reports.build import build_report

        build_report([str(state.results)], str(state.report))


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    state = node.config._crosscheck
    counts = getattr(node, "workeroutput", {}).get(COUNTS_KEY, {})
    state.counts.update({(s, v): n for s, v, n in counts.get("verdicts", [])})
    state.oracle_runs.update(counts.get("oracles", {}))


def pytest_terminal_summary(terminalreporter, config):
    state = config._crosscheck
    if not state.counts:
        return
    terminalreporter.write_sep("-", "backprop-crosscheck")
    for sut in sorted({s for s, _ in state.counts}):
        counts = {v: n for (s, v), n in state.counts.items() if s == sut}
        verdicts = ", ".join(f"{counts[v]} {v}" for v in _check.VERDICTS if counts.get(v))
        terminalreporter.write_line(f"SUT {sut}: {sum(counts.values())} cases checked: {verdicts}")
    def runs(n):
        probed = state.oracle_runs[n + PROBES_ONLY]
        return f"{n} {state.oracle_runs[n]}" + (f" ({probed} of them sampled: probes only)" if probed else "")

    oracles = ", ".join(runs(n) for n in state.oracle_names)
    terminalreporter.write_line(f"cases each oracle ran on: {oracles}")
    if state.results:
        terminalreporter.write_line(f"results: {state.results}")
    if state.report:
        terminalreporter.write_line(f"report: {state.report}")

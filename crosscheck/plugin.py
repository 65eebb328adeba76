"""The pytest plugin: ``--sut``, ``--results``, ``--oracles``, the ``crosscheck`` fixture and the summary.

Results go to one JSON line per checked case. Under pytest-xdist each worker writes its own part
file, line by line and flushed, so a crash loses nothing; the controller merges the parts into
the requested file when the session ends.
"""

from __future__ import annotations

import json
import os
from collections import Counter
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


def pytest_addoption(parser):
    group = parser.getgroup("crosscheck", "backprop-crosscheck")
    group.addoption("--sut", default=_sut.DEFAULT, metavar="SPEC",
                    help="system under test: pkg.module:func or path/to/file.py:func (default %(default)s)")
    group.addoption("--results", default=None, metavar="FILE.jsonl",
                    help="write one JSON record per checked case to FILE.jsonl")
    group.addoption("--oracles", default=",".join(ORACLES), metavar="NAMES",
                    help="comma-separated oracles to run (default %(default)s)")


def pytest_configure(config):
    config.addinivalue_line("markers", "crosscheck: cross-checks a SUT's gradients against the oracles")
    config.addinivalue_line("markers", "mutants: the mutant catalogue must be killed and localized")
    names = [n.strip() for n in config.getoption("oracles").split(",") if n.strip()]
    unknown = [n for n in names if n not in ORACLES]
    if unknown:
        raise pytest.UsageError(f"--oracles: unknown {unknown}; valid: {', '.join(ORACLES)}")
    config._crosscheck = Session(config, names)


class Session:
    """Per-process state: the SUT, the oracle names, the results sink and the verdict counts."""

    def __init__(self, config, oracle_names):
        self.config = config
        self.oracle_names = oracle_names
        self.counts: Counter = Counter()
        self.oracle_runs: Counter = Counter()
        self._sut = None
        results = config.getoption("results")
        self.results = Path(results).resolve() if results else None
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
        self.write({"kind": "case", **result.to_json()}, nodeid)

    def write(self, record: dict, nodeid: str) -> None:
        """Append one record (a checked case, or another kind such as a mutant's kill) to the results."""
        if self.sink:
            line = json.dumps({"test": nodeid, "worker": self.worker, **record}, sort_keys=True)
            with open(self.sink, "a") as f:
                f.write(line + "\n")

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
        result = _check.check(problem, sut or self.sut, self._session.oracle_names)
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
    state.merge()


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
        verdicts = ", ".join(f"{counts[v]} {v}" for v in ("pass", "fail", "unsupported", "oracle_disagreement",
                                                           "no_oracle") if counts.get(v))
        terminalreporter.write_line(f"SUT {sut}: {sum(counts.values())} cases checked: {verdicts}")
    oracles = ", ".join(f"{n} {state.oracle_runs[n]}" for n in state.oracle_names)
    terminalreporter.write_line(f"cases each oracle ran on: {oracles}")
    if state.results:
        terminalreporter.write_line(f"results: {state.results}")

"""The pytest plugin: ``--sut``, ``--results``, ``--oracles``, isolation, the ``crosscheck`` fixture and the summary.

The SUT is loaded at start-up through ``crosscheck.boundary`` (in a child process unless
``--isolation=none``), so a bad ``--sut`` is one usage error, never a failure per test. Results go
to the file ``crosscheck.results`` describes: one JSON line per checked case in a part file per
process, merged with a closing run record when the run ends, under a lock.

A case that times out or crashes fails its test at once, without a shrink: Hypothesis would
otherwise re-run it, each time at the full time limit. A test whose every case was unsupported is
reported as skipped, and a run that selected cross-check tests but checked no case fails.
"""

from __future__ import annotations

import json
import os
import platform
import re
import socket
import time
from collections import Counter
from importlib import metadata
from pathlib import Path

if os.environ.get("PYTEST_XDIST_WORKER"):
    # one BLAS / XLA thread per worker: the workers are the parallelism
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")

import pytest  # noqa: E402

from crosscheck import boundary, conventions, profiles  # noqa: E402
from crosscheck import check as _check  # noqa: E402
from crosscheck import results as _results  # noqa: E402
from crosscheck import sut as _sut  # noqa: E402
from crosscheck.assertions import assert_passes  # noqa: E402
from oracles import ORACLES  # noqa: E402

COUNTS_KEY = "crosscheck_counts"
BLOB = re.compile(r"@reproduce_failure\([^)]*\)")
MARKER = "crosscheck"


class CaseAborted(BaseException):
    """A case that timed out or crashed. A BaseException, so Hypothesis does not catch it and
    re-run the case while shrinking (each re-run would cost the whole time limit again)."""


def _limit(name: str, unit: str):
    def parse(text):
        try:
            return boundary.limit(text, unit)
        except ValueError as exc:
            raise pytest.UsageError(f"{name} {exc}") from None
    return parse


def pytest_addoption(parser):
    group = parser.getgroup("crosscheck", "backprop-crosscheck")
    group.addoption("--sut", default=_sut.DEFAULT, metavar="SPEC",
                    help="system under test: pkg.module:func or path/to/file.py:func (default %(default)s)")
    group.addoption("--convention", default="contract", choices=conventions.NAMES,
                    help="how the SUT's code is written: " + ", ".join(conventions.NAMES)
                         + " (default contract; docs/conventions.md)")
    group.addoption("--layers", default=None, metavar="FILE",
                    help="a module of layer functions to check one op at a time, in --convention cs231n or ng "
                         "(crosscheck.layer_suite; docs/layers.md)")
    group.addoption("--names", default="", metavar="FILE.toml",
                    help="with --layers: a naming file for a module whose functions have other names or argument "
                         "and return orders than the convention's (crosscheck.naming; docs/layers.md)")
    group.addoption("--results", default=None, metavar="FILE.jsonl",
                    help="write one JSON record per checked case to FILE.jsonl")
    group.addoption("--oracles", default=",".join(ORACLES), metavar="NAMES",
                    help="comma-separated oracles to run (default %(default)s)")
    group.addoption("--isolation", default="process", choices=_sut.ISOLATION,
                    help="process (default): the SUT runs in a child process with time and memory limits; "
                         "none: in the test process, faster, unprotected from exits, crashes and hangs")
    group.addoption("--case-timeout", default=boundary.DEFAULT_TIMEOUT, type=_limit("--case-timeout", "seconds"),
                    metavar="SECONDS", help="time limit for the SUT's two calls on one case (default %(default)s)")
    group.addoption("--case-memory", default=boundary.DEFAULT_MEMORY_MB, type=_limit("--case-memory", "MiB"),
                    metavar="MIB", help="resident-memory limit of the SUT's process (default %(default)s)")
    group.addoption("--oracle-timeout", default=_check.ORACLE_TIMEOUT, type=_limit("--oracle-timeout", "seconds"),
                    metavar="SECONDS", help="time limit of one oracle on one case; a hung oracle's case is recorded "
                                            "as oracle_error and its process ends (default %(default)s)")
    group.addoption("--record-values", action="store_true",
                    help="store every oracle's answer in the results (to compare environments)")
    group.addoption("--record-detail", action="store_true",
                    help="keep every comparison of a passing case in the results too (by default a passing "
                         "case's record is compact: its margins per tensor and oracle)")
    group.addoption("--env", default=os.environ.get("CROSSCHECK_ENV", "local"), metavar="LABEL",
                    help="the environment's name in the results and reports (default $CROSSCHECK_ENV or 'local')")
    group.addoption("--report", default=None, metavar="FILE.html",
                    help="build the HTML report from this run's results when it ends")


def pytest_configure(config):
    config.addinivalue_line("markers", "crosscheck: cross-checks a SUT's gradients against the oracles")
    config.addinivalue_line("markers", "mutants: the mutant catalogue must be killed and localized")
    config.addinivalue_line("markers", "layers: checks a module of layer functions one op at a time (--layers)")
    names = [n.strip() for n in config.getoption("oracles").split(",") if n.strip()]
    unknown = [n for n in names if n not in ORACLES]
    if unknown or not names:
        raise pytest.UsageError(f"--oracles: unknown {unknown or 'empty list'}; valid: {', '.join(ORACLES)}")
    # the JAX oracle's compilation outlives the run (oracles/jax_oracle.py), like Hypothesis's examples; it
    # lives where pytest was started (the rootdir of an installed suite may be site-packages)
    os.environ.setdefault("CROSSCHECK_JAX_CACHE", str(config.invocation_params.dir / ".crosscheck-cache" / "jax"))
    profiles.chosen = config.getoption("hypothesis_profile", None) or os.environ.get("HYPOTHESIS_PROFILE")
    if profiles.chosen and not config.getoption("hypothesis_profile", None):
        from hypothesis import settings

        settings.load_profile(profiles.chosen)
    session = Session(config, names)
    config._crosscheck = session
    config.pluginmanager.register(session, "crosscheck-session")
    session.start()


def pytest_unconfigure(config):
    state = getattr(config, "_crosscheck", None)
    if state is not None:
        state.close()


PROBES_ONLY = ":probes"
"""Counted apart: the runs where an oracle answered a sampled case's probes only."""


class Session:
    """Per-process state: the SUT, the oracle names, the results sink and the verdict counts."""

    def __init__(self, config, oracle_names):
        self.config = config
        self.oracle_names = oracle_names
        self.counts: Counter = Counter()
        """(sut, verdict) -> cases, generate phase (and explicit examples) only."""
        self.all_counts: Counter = Counter()
        """(sut, verdict) -> cases, every phase."""
        self.oracle_runs: Counter = Counter()
        self.per_test: dict[str, Counter] = {}
        self.unsupported_reason: dict[str, str] = {}
        self.crosscheck_tests = 0
        self.slowest = 0.0
        self.no_case_checked = False
        self._sut = None
        self._lock = None
        results = config.getoption("results")
        report = config.getoption("report")
        if report and not results:
            results = f"{report}.jsonl"  # the report is built from a results file: keep one beside it
        self.results = Path(results).resolve() if results else None
        self.report = Path(report).resolve() if report else None
        self.record_values = config.getoption("record_values")
        self.record_detail = config.getoption("record_detail")
        self.env = config.getoption("env")
        self.started = time.time()
        self.worker = getattr(config, "workerinput", {}).get("workerid")
        self.controller = not self.worker and bool(getattr(config.option, "numprocesses", None))
        self.sink = None

    # -- start and end
    def start(self) -> None:
        if self.report:
            try:
                import reports.build  # noqa: F401
            except ImportError as exc:
                raise pytest.UsageError(f"--report: {exc}") from None
        if self.results and self.results.is_dir():
            raise pytest.UsageError(f"--results {self.results} is a directory; give a file name")
        opt = self.config.getoption
        if opt("layers"):
            try:
                conventions.for_layers(opt("convention"))
            except conventions.ConventionError as exc:
                raise pytest.UsageError(str(exc)) from None
        elif opt("names"):
            raise pytest.UsageError("--names describes the functions of a --layers module; give --layers FILE")
        named = opt("sut") != _sut.DEFAULT or opt("convention") != conventions.DEFAULT or bool(opt("layers"))
        if named and not self.config.option.collectonly:
            # a SUT the run names is loaded now, so that a bad one is one usage error; the default is
            # loaded when a test first needs it (an unrelated pytest run starts no SUT process)
            self.load_sut()
            if self.controller:
                self._sut.close()  # validated; the workers each load their own
                self._sut = None
        if self.results:
            if not self.worker:
                self._claim_results()  # after the SUT loaded: a typo in --sut leaves earlier results alone
            self.sink = Path(f"{self.results}.{self.worker or 'main'}.part")
            self.sink.write_text("")

    def checked_spec(self) -> str:
        """What the run checks: the --layers module, else --sut."""
        return self.config.getoption("layers") or self.config.getoption("sut")

    def _claim_results(self) -> None:
        try:
            self.results.parent.mkdir(parents=True, exist_ok=True)
            self._lock = _results.Lock(self.results)
            self._lock.acquire(f"pid {os.getpid()} on {socket.gethostname()}, started {time.ctime(self.started)}")
        except _results.Locked as exc:
            raise pytest.UsageError(f"--results {self.results} is being written by another run ({exc}); "
                                    f"give this run another file") from None
        except OSError as exc:
            raise pytest.UsageError(f"--results {self.results}: {exc.strerror}") from None
        for stale in _results.parts_of(self.results):
            stale.unlink()
        start = {"kind": _results.START, "env": self.env, "sut": self.checked_spec(),
                 "started": self.started, "pid": os.getpid()}
        self.results.write_text(json.dumps(start, sort_keys=True) + "\n")

    def close(self) -> None:
        if self._sut is not None:
            self._sut.close()
        if self._lock is not None:
            self._lock.release()

    def load_sut(self) -> _sut.Sut:
        if self._sut is None:
            opt = self.config.getoption
            spec, convention = opt("sut"), opt("convention")
            if opt("layers"):  # a module of layer functions, checked one op at a time
                spec, convention = opt("layers"), conventions.for_layers(convention)
            try:
                self._sut = _sut.load(spec, opt("isolation"), opt("case_timeout"), opt("case_memory"), convention,
                                      opt("names") if opt("layers") else "")
            except _sut.SutLoadError as exc:
                self.close()
                raise pytest.UsageError(str(exc)) from None
        return self._sut

    @property
    def sut(self) -> _sut.Sut:
        return self.load_sut()

    # -- records
    def record(self, result: _check.CaseResult, nodeid: str, phase: str) -> None:
        key = (result.sut, result.verdict)
        self.all_counts[key] += 1
        if phase in ("generate", "explicit"):
            self.counts[key] += 1
            self.per_test.setdefault(nodeid, Counter())[result.verdict] += 1
            if result.verdict == "unsupported":
                self.unsupported_reason.setdefault(nodeid, "; ".join(result.problems))
        limit = self.config.getoption("case_timeout")
        if result.sut_seconds > limit / 4 >= self.slowest:  # said once, as soon as it happens
            reporter = self.config.pluginmanager.get_plugin("terminalreporter")
            capture = self.config.pluginmanager.get_plugin("capturemanager")
            if reporter is not None and capture is not None:
                with capture.global_and_fixture_disabled():  # now, not after the test
                    reporter.write_line(f"\nbackprop-crosscheck: a case took the SUT {result.sut_seconds:.1f} s, "
                                        f"more than a quarter of --case-timeout={limit:g}; the run will be slow",
                                        yellow=True)
        self.slowest = max(self.slowest, result.sut_seconds)
        for name, status in result.oracles.items():
            self.oracle_runs[name] += bool(status["ran"])
            self.oracle_runs[f"{name}{PROBES_ONLY}"] += name in result.probed
        self.write({"kind": "case", "env": self.env, "phase": phase, **result.record(self.record_detail)}, nodeid)

    def run_record(self, exitstatus) -> dict:
        """What the report's summary needs about this run: versions, platform, profile, timing, and
        how it ended."""
        versions = {}
        for name in ("numpy", "scipy", "torch", "jax", "jaxlib", "hypothesis", "pytest"):
            try:
                versions[name] = metadata.version(name)
            except metadata.PackageNotFoundError:
                versions[name] = None
        verdicts = Counter()
        for (_, verdict), n in self.counts.items():
            verdicts[verdict] += n
        checked = sum(verdicts[v] for v in _check.CHECKED)
        code = int(exitstatus)
        return {"kind": _results.END, "env": self.env, "sut": self.checked_spec(),
                "oracles": self.oracle_names, "python": platform.python_version(),
                "platform": platform.platform(), "versions": versions,
                "hypothesis_profile": profiles.chosen or profiles.default_name(),  # the cross-check tests' own
                "hypothesis_seed": self.config.getoption("hypothesis_seed", None),
                "workers": getattr(self.config.option, "numprocesses", None) or 0,
                "isolation": self.config.getoption("isolation"), "convention": self.config.getoption("convention"),
                "case_timeout": self.config.getoption("case_timeout"),
                "started": self.started, "duration": time.time() - self.started,
                "completed": code != pytest.ExitCode.INTERRUPTED, "interrupted": code == pytest.ExitCode.INTERRUPTED,
                "exitstatus": code, "crosscheck_tests": self.crosscheck_tests,
                "cases": {"checked": checked, **{v: verdicts[v] for v in _check.VERDICTS}},
                "cases_counted": "generate phase: shrink and replay re-runs of a failing example are left out"}

    def write(self, record: dict, nodeid: str) -> None:
        """Append one record (a checked case, or another kind such as a mutant's kill) to the results."""
        if self.sink:
            line = json.dumps({"test": nodeid, "worker": self.worker, **record}, sort_keys=True)
            with open(self.sink, "a") as f:
                f.write(line + "\n")

    def merge(self, exitstatus) -> None:
        """The run_start line, every part and the closing run record, into the results file at once."""
        if self.worker or not self.results:
            return
        tmp = self.results.with_name(self.results.name + ".merging")
        parts = _results.parts_of(self.results)
        with open(tmp, "w") as out:
            with open(self.results) as head:
                out.write(head.read())
            for part in parts:
                with open(part) as f:
                    for line in f:
                        out.write(line if line.endswith("\n") else line + "\n")
            out.write(json.dumps({"test": "", "worker": None, **self.run_record(exitstatus)}, sort_keys=True) + "\n")
        os.replace(tmp, self.results)
        for part in parts:
            part.unlink()

    # -- hooks
    def pytest_runtest_logreport(self, report):
        """Keep Hypothesis's reproduction blob of a failing test beside its cases (the controller
        sees every worker's reports), and count the cross-check tests that ran."""
        if self.worker:
            return
        if report.when == "call" and MARKER in report.keywords:
            self.crosscheck_tests += 1
        if report.failed and report.when == "call":
            match = BLOB.search(report.longreprtext or "")
            if match:
                self.write({"kind": "blob", "blob": match.group(0)}, report.nodeid)

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item, call):
        """A test whose every case the SUT declined is skipped with the reason, never passed."""
        outcome = yield
        report = outcome.get_result()
        if call.when != "call":
            return
        if isinstance(call.excinfo.value if call.excinfo else None, CaseAborted):
            report.longrepr = str(call.excinfo.value)
        counts = self.per_test.get(item.nodeid)
        if report.passed and counts and set(counts) == {"unsupported"}:
            report.outcome = "skipped"
            reason = self.unsupported_reason.get(item.nodeid, "")
            if "layers" in item.keywords:  # an op whose functions the module does not define
                report.longrepr = (str(item.path), item.location[1] or 0, f"Skipped: not checked: {reason}")
                return
            report.longrepr = (str(item.path), item.location[1] or 0,
                               f"Skipped: the SUT declined every case of this test ({counts['unsupported']}, "
                               f"{reason}); declare what it supports in 'supports'")


class Checker:
    """What the ``crosscheck`` fixture gives a test: check one problem, record it, assert on it."""

    def __init__(self, session: Session, nodeid: str):
        self._session, self._nodeid = session, nodeid
        self._failed = False

    @property
    def sut(self) -> _sut.Sut:
        return self._session.sut

    @property
    def layers(self) -> str | None:
        """The convention of the ``--layers`` module ('cs231n' or 'ng'), or None when none is named."""
        opt = self._session.config.getoption
        if not opt("layers"):
            return None
        name = conventions.for_layers(opt("convention"))
        return next(k for k, v in conventions.LAYERS.items() if v == name)

    def _phase(self) -> str:
        """generate, shrink or replay: after the first failing example of a test, Hypothesis only
        shrinks and replays it (records of those phases are re-runs, biased towards the failure)."""
        try:
            from hypothesis.control import current_build_context

            context = current_build_context()
        except Exception:  # noqa: BLE001  (not inside @given: a plain test)
            return "explicit"
        if getattr(context, "is_final", False):
            return "replay"
        return "shrink" if self._failed else "generate"

    def run(self, problem, sut: _sut.Sut | None = None) -> _check.CaseResult:
        def hung(result):  # the last thing this process does: its record says why it ended
            self._session.record(result, self._nodeid, self._phase())

        result = _check.check(problem, sut or self.sut, self._session.oracle_names, self._session.record_values,
                              self._session.config.getoption("oracle_timeout"), hung)
        self._session.record(result, self._nodeid, self._phase())
        if result.failed:
            self._failed = True
        return result

    def __call__(self, problem, sut: _sut.Sut | None = None) -> _check.CaseResult:
        """Check one problem against ``--sut`` (or the given SUT) and fail the test unless it passes."""
        __tracebackhide__ = True
        result = self.run(problem, sut)
        if result.verdict in _check.ABORTING:
            raise CaseAborted(result.message())
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


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session, exitstatus):
    state = session.config._crosscheck
    if state.worker:
        session.config.workeroutput[COUNTS_KEY] = {
            "verdicts": [[s, v, n] for (s, v), n in state.counts.items()],
            "all": [[s, v, n] for (s, v), n in state.all_counts.items()],
            "oracles": dict(state.oracle_runs), "slowest": state.slowest}
        return
    checked = sum(n for (_, v), n in state.counts.items() if v in _check.CHECKED)
    if state.crosscheck_tests and not checked and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED  # an unsupported-only run is never a pass
        state.no_case_checked = True
    state.merge(session.exitstatus)
    if state.report:
        from reports.build import build_report

        build_report([str(state.results)], str(state.report))


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    state = node.config._crosscheck
    counts = getattr(node, "workeroutput", {}).get(COUNTS_KEY, {})
    state.counts.update({(s, v): n for s, v, n in counts.get("verdicts", [])})
    state.all_counts.update({(s, v): n for s, v, n in counts.get("all", [])})
    state.oracle_runs.update(counts.get("oracles", {}))
    state.slowest = max(state.slowest, counts.get("slowest", 0.0))


def pytest_terminal_summary(terminalreporter, config):
    state = config._crosscheck
    if state.no_case_checked:
        terminalreporter.write_sep("-", "backprop-crosscheck", red=True)
        terminalreporter.write_line(
            f"FAIL: {state.crosscheck_tests} cross-check test(s) ran but the SUT answered no case "
            f"({', '.join(f'{n} {v}' for (_, v), n in sorted(state.counts.items())) or 'no case at all'}): "
            f"nothing was verified", red=True)
    if not state.counts and not state.all_counts:
        return
    terminalreporter.write_sep("-", "backprop-crosscheck")
    for sut in sorted({s for s, _ in state.all_counts}):
        counts = {v: n for (s, v), n in state.counts.items() if s == sut}
        verdicts = ", ".join(f"{counts[v]} {v}" for v in _check.VERDICTS if counts.get(v))
        reruns = sum(n for (s, _), n in state.all_counts.items() if s == sut) - sum(counts.values())
        terminalreporter.write_line(f"SUT {sut}: {sum(counts.values())} cases checked: {verdicts or 'none'}"
                                    + (f" (and {reruns} shrink/replay re-runs)" if reruns else ""))
    def runs(n):
        probed = state.oracle_runs[n + PROBES_ONLY]
        return f"{n} {state.oracle_runs[n]}" + (f" ({probed} of them sampled: probes only)" if probed else "")

    oracles = ", ".join(runs(n) for n in state.oracle_names)
    terminalreporter.write_line(f"cases each oracle ran on: {oracles}")
    limit = config.getoption("case_timeout")
    if state.slowest > limit / 4:
        terminalreporter.write_line(f"warning: the slowest case took the SUT {state.slowest:.1f} s, more than a "
                                    f"quarter of --case-timeout={limit:g}", yellow=True)
    failing = sum(n for (_, v), n in state.counts.items() if v == "fail")
    if failing and state.results and state.results.is_file():
        from crosscheck import diagnose

        records = _results.cases(_results.read([state.results]).records)
        for sut in sorted({r.get("sut") for r in records if r.get("verdict") == "fail"}):
            terminalreporter.write_line(f"SUT {sut}: " + diagnose.render(
                diagnose.diagnose([r for r in records if r.get("sut") == sut], replay_catalogue=True)))
    if state.results:
        terminalreporter.write_line(f"results: {state.results}")
    if state.report:
        terminalreporter.write_line(f"report: {state.report}")

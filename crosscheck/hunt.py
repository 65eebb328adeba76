"""Keep going: every distinct bug of a SUT, each with its own minimal case.

``python -m crosscheck hunt --sut SPEC --budget 60s [--json] [--results FILE]`` checks generated cases
until the budget is spent and does not stop at the first failure. Each failing case is filed under its
*signatures*, one per independent symptom (``signatures``):

* the case did not answer: ``crashed``, ``timeout``, ``raised ZeroDivisionError``, ...;
* the answer breaks the contract, one signature per way: ``dtype of dW``, ``shape of db``, ``state of dW``
  (two calls with the same inputs differ), ``missing dA0``, ...;
* the first wrong values in backward order (a wrong dtype or shape no longer hides them:
  ``check._salvage``): ``values of dZ at a sigmoid layer``, ``values of db``, ``values of the loss``.

So a float32 dtype defect is one signature and the wrong sigmoid derivative in the same case another. A
third of the budget then shrinks each signature to a minimal case (Hypothesis' shrinker, with "shows this
signature" as the condition, the search narrowed to the names of the signature's first case), and each
signature is diagnosed from its cases (``crosscheck.diagnose``, catalogue replay included).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from hypothesis import HealthCheck, Phase, find, given, settings
from hypothesis import seed as seeded
from hypothesis.errors import NoSuchExample, Unsatisfiable

from crosscheck import check, contract, diagnose, problems, strategies
from crosscheck.sut import Sut

CHUNK = 25
"""Cases per Hypothesis run of the search: the budget is looked at between runs (and before every case)."""
SHRINK_SHARE = 1 / 3
"""The share of the budget kept for shrinking, split evenly between the signatures."""
SHRINK_CASES = 200
"""At most this many cases are tried to find a signature's case again before shrinking it."""

def signatures(result: check.CaseResult) -> list[str]:
    """The independent symptoms of one case's result (none for a case that passed or was unsupported); each is
    read as ``diagnose`` reads a record's (``diagnose.contract_signature``, ``diagnose.values_signature``)."""
    if not result.failed:
        return []
    if result.verdict != "fail":
        return [result.verdict]  # crashed, timeout, or a fault of the harness: oracle_error, ...
    out = []
    if result.first_divergence in (None, "answer"):  # it raised, returned no dict, or changed its inputs
        head = (result.problems or ["no answer"])[0]
        out.append(head.split(":")[0] if result.first_divergence is None else f"answer: {head.split(':')[0]}")
    for text in result.problems:
        found = diagnose.contract_signature(text)
        if found is not None and found[1] not in out:
            out.append(found[1])
    order = ["loss", *contract.backward_order(result.case)]
    wrong = {c.tensor for c in result.comparisons if not c.passed and c.problem is None}
    first = next((k for k in order if k in wrong), None)
    if first is not None:
        out.append(diagnose.values_signature(result.case, first))
    return out


@dataclass
class Signature:
    signature: str
    cases: int = 0
    """Failing generated cases that show it."""
    first_case: int = 0
    """1-based position of the first generated case that showed it."""
    minimal: dict | None = None
    """The smallest case found that shows it (after shrinking; the first case when shrinking found none)."""
    shrunk: bool = False
    """Whether shrinking found a case at least as small as the first one."""
    message: str = ""
    """The minimal case's failure, as a test prints it."""
    reproduce: str = ""
    findings: list[dict] = field(default_factory=list)
    """``crosscheck.diagnose`` of the signature's generated cases (its Finding objects as dicts)."""


@dataclass
class Hunt:
    sut: str
    cases: int = 0
    """Generated cases checked."""
    failing: int = 0
    seconds: float = 0.0
    shrink_seconds: float = 0.0
    signatures: list[Signature] = field(default_factory=list)

    def to_json(self) -> dict:
        return asdict(self)


def _size(case: dict) -> tuple:
    """How big a case is, for choosing the smaller of two: units, depth, batch."""
    return (sum(case["sizes"]), len(case["sizes"]), case.get("batch", 1))


def hunt(sut: Sut, budget: float, oracle_names=None, *, max_cases: int | None = None, seed: int | None = None,
         on_record: Callable[[dict], None] | None = None, replay_catalogue: bool = True) -> Hunt:
    """Check generated cases against ``sut`` for ``budget`` seconds (or ``max_cases`` cases), group the failures
    by signature, shrink each and diagnose each. With ``seed`` the cases drawn are the same on every run (the
    time a SUT takes can still change how many fit the budget). ``on_record`` receives every case record
    (``phase`` generate or shrink, with its ``signatures``), e.g. to write a results file."""
    start = time.monotonic()
    search_end = start + budget * (1 - SHRINK_SHARE)
    report = Hunt(sut.spec)
    records, found = [], {}
    strategy = strategies.problems(supports=sut.supports)

    def record(result, phase, sigs):
        r = {"kind": "case", "phase": phase, "signatures": sigs, **result.record()}
        if on_record is not None:
            on_record(r)
        return r

    def spent():
        return time.monotonic() > search_end or (max_cases is not None and report.cases >= max_cases)

    def observe(problem):
        if spent():
            return
        report.cases += 1
        result = check.check(problem, sut, oracle_names)
        sigs = signatures(result)
        records.append(record(result, "generate", sigs))
        report.failing += bool(sigs)
        for s in sigs:
            if s not in found:
                found[s] = Signature(s, first_case=report.cases, minimal=result.case)
            found[s].cases += 1

    chunk = 0
    while not spent():
        run = given(strategy)(observe)
        run = settings(max_examples=CHUNK, phases=[Phase.generate], database=None, deadline=None,
                       suppress_health_check=list(HealthCheck))(run)
        if seed is not None:
            run = seeded(seed + chunk)(run)
        run()
        chunk += 1
    report.seconds = time.monotonic() - start

    shrink_start = time.monotonic()
    share = max(budget * SHRINK_SHARE, 1.0) / max(len(found), 1)
    passing = [r for r in records if r["verdict"] == "pass"]
    for s in found.values():
        case = _shrink(sut, oracle_names, s, time.monotonic() + share, seed is not None, record)
        if case is not None and _size(case) <= _size(s.minimal):
            s.minimal, s.shrunk = case, True
        mine = [r for r in records if s.signature in r["signatures"]]
        # diagnosed from the cases whose first divergence shows this signature (another symptom earlier in
        # backward order would take the diagnosis elsewhere), when there are any
        focus = [r for r in mine if diagnose.first_signature(r) == s.signature]
        s.findings = [asdict(f) for f in diagnose.diagnose((focus or mine) + passing,
                                                           replay_catalogue=replay_catalogue)]
        result = check.check(problems.build(s.minimal), sut, oracle_names)
        s.message, s.reproduce = result.message(), result.reproduce()
    report.shrink_seconds = time.monotonic() - shrink_start
    report.signatures = sorted(found.values(), key=lambda s: (-s.cases, s.first_case))
    return report


def _narrowed(case: dict) -> dict:
    """The supports that keep the search to the names of one case: its activations, loss, layout, dtype, reduction."""
    return {"activations": sorted(set(case["activations"])), "losses": [case["loss"]], "layouts": [case["layout"]],
            "dtypes": [case["dtype"]], "reductions": [case["reduction"]]}


def _shrink(sut: Sut, oracle_names, s: Signature, deadline: float, derandomize: bool, record) -> dict | None:
    """A minimal case that shows signature ``s``: Hypothesis finds one again in the narrowed search, then shrinks it;
    the last case it kept when the deadline came, or None."""
    kept = []

    def shows(problem) -> bool:
        if time.monotonic() > deadline:
            return False  # out of time: every further candidate is refused, and the shrinker stops soon
        result = check.check(problem, sut, oracle_names)
        sigs = signatures(result)
        record(result, "shrink", sigs)
        if s.signature in sigs:
            kept[:] = [problem.case]
            return True
        return False

    try:
        strategy = strategies.problems(supports=_narrowed(s.minimal), min_batch=1)
        find(strategy, shows, settings=settings(max_examples=SHRINK_CASES, database=None, deadline=None,
                                                derandomize=derandomize, suppress_health_check=list(HealthCheck),
                                                phases=[Phase.generate, Phase.shrink]))
    except (NoSuchExample, Unsatisfiable):
        pass
    return kept[0] if kept else None


def parse_budget(text: str) -> float:
    """Seconds from '60s', '2m', '1.5h' or a bare number of seconds."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*", text)
    if match is None or float(match[1]) <= 0:
        raise ValueError(f"--budget {text!r}: expected a positive duration such as 60s, 2m or 90")
    return float(match[1]) * {"": 1, "s": 1, "m": 60, "h": 3600}[match[2]]


def render(report: Hunt) -> str:
    lines = [f"hunt: {report.cases} cases checked in {report.seconds:.0f} s, {report.failing} failing; "
             f"{len(report.signatures)} distinct signature(s), shrunk and diagnosed in {report.shrink_seconds:.0f} s"]
    if not report.cases:
        lines.append("no case was checked: nothing was verified")
    for i, s in enumerate(report.signatures, 1):
        c = s.minimal
        lines.append(f"{i}. {s.signature}: {s.cases} case(s), first at case {s.first_case}")
        lines.append(f"   {'minimal' if s.shrunk else 'first'} case: sizes {c['sizes']}, activations "
                     f"{c['activations']}, loss {c['loss']}, {c['layout']}, {c['dtype']}, {c['reduction']}, "
                     f"batch {c.get('batch')}")
        if s.findings:
            lines.append(f"   diagnosis: {s.findings[0]['summary']}")
        lines.append(f"   reproduce: {s.reproduce}")
    return "\n".join(lines)


def to_json(report: Hunt) -> str:
    return json.dumps(report.to_json(), indent=2)

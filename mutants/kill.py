"""Hunting one mutant: generate the cases that can reveal it until one kills it.

``hunt`` is shared by the ``mutants`` tests (which assert on it) and by ``python -m mutants``
(which writes the kill matrix).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from hypothesis import HealthCheck, Phase, find, settings
from hypothesis.errors import NoSuchExample

from crosscheck import check, strategies
from crosscheck.sut import Sut
from mutants.catalogue import Mutant


class Hunted:
    """What a hunt's record says of any mutant (a network's or a layer op's): killed, localized."""

    KIND = "mutant"
    kills: int
    mislocalized: list

    @property
    def killed(self) -> bool:
        return self.kills > 0

    @property
    def localized(self) -> bool:
        return self.killed and not self.mislocalized

    def to_json(self) -> dict:
        return {"kind": self.KIND, **asdict(self), "killed": self.killed, "localized": self.localized}


@dataclass
class Kill(Hunted):
    mutant: str
    bug_class: str
    cases: int
    """Generated cases checked."""
    kills: int
    """How many of them failed."""
    first_kill: int | None = None
    """1-based position of the first case that failed: how many cases it took to find it."""
    expected_first: list[str] = field(default_factory=list)
    """The tensors the catalogue allows to diverge first, for the first killing case."""
    first_divergence: str | None = None
    caught_by: list[str] = field(default_factory=list)
    """Oracles that disagreed with the mutant on the first killing case, and 'contract' if its
    answer broke the contract (a wrong shape, state between calls)."""
    mislocalized: list[dict] = field(default_factory=list)
    """Killing cases whose first divergence was not the expected tensor."""
    case: dict | None = None
    message: str = ""



def hunt(mutant: Mutant, max_cases: int | None = None, oracle_names=None, sample_units: int | None = None,
         widths: tuple[int, int] | None = None) -> Kill:
    """Check ``max_cases`` generated cases against the mutant; every kill must be localized.

    ``sample_units`` makes every case a sampled one (``crosscheck.sampling``): with
    ``oracle_names=["fd"]`` the mutant then meets finite differences' probes alone. ``widths``
    (min, max) draws wider networks than the strategy's default (never narrower than the mutant
    needs).
    """
    reveals = dict(mutant.reveals)
    if widths is not None:
        reveals["min_width"] = max(widths[0], reveals.get("min_width", 1))
        reveals["max_width"] = max(widths[1], reveals["min_width"])
    sut = Sut(mutant.spec, mutant.sut, None)
    kill = Kill(mutant.name, mutant.bug_class, 0, 0)

    def observe(problem) -> bool:
        kill.cases += 1
        result = check.check(problem, sut, oracle_names)
        if result.verdict == "fail":
            kill.kills += 1
            expected = list(mutant.first(result.case))
            if kill.first_kill is None:
                kill.first_kill, kill.case, kill.message = kill.cases, result.case, result.message()
                kill.expected_first, kill.first_divergence = expected, result.first_divergence
                kill.caught_by = sorted({c.against for c in result.comparisons if not c.passed}) + (
                    ["contract"] if result.problems else [])
            if result.first_divergence not in expected:
                kill.mislocalized.append({"case": result.case, "expected": expected, "got": result.first_divergence})
        return False  # never "found": look at every case in the budget

    budget = settings(settings.default, max_examples=max_cases or settings.default.max_examples,
                      phases=[Phase.generate], database=None, deadline=None,
                      suppress_health_check=list(HealthCheck))
    try:
        find(strategies.problems(**reveals, sample_units=sample_units), observe, settings=budget)
    except NoSuchExample:
        pass
    return kill

"""Loading ``--results`` files and aggregating their records for the report.

A results file holds JSON lines of four kinds (see crosscheck/plugin.py): ``case`` (one checked
case), ``run`` (versions, profile, timing of one pytest run), ``blob`` (Hypothesis's
``@reproduce_failure`` line of a failing test) and ``mutant`` (a kill-matrix row).

A case record has two forms (``crosscheck.check.CaseResult.record``): a failing case's (and, with
``--record-detail``, every case's) holds its comparisons, six per tensor (the SUT against three
oracles, and the three pairs of oracles), 27 kB a case on average; a passing case's is compact, under
2 kB, its margins per oracle and tensor in place of the comparisons. Records written before
``record_version`` 2 are all of the first form. The plugin writes every record with
``sort_keys=True``, and ``load`` reads a line of either form without parsing what the summary does
not need (``_parse_case_line``, the fast path): it cuts the two comparison lists out of a full line,
parses the rest and reads the margins from the lists with one regular expression that checks every
comparison's field order; a compact line it parses whole, cutting out only recorded values. A line
that does not have that shape is parsed whole, with the same result (the slow path;
``Results.parsed`` counts both). The full record (per-entry detail, values) is read again, by file
offset, only for the cases the report shows in detail.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from crosscheck import results as _results
from crosscheck.check import FAILING, VERDICTS, record_margins, reproduce_of

CASE_FIELDS = ("activations", "loss", "dtype", "layout")
"""The case fields the summary counts cases by."""
ALL = "(all)"
"""The summary's column over every environment, when there are several."""

_NUM = rb'(-?[0-9][0-9.eE+-]*|"-?inf"|"nan")'
_STR = rb'"((?:[^"\\]|\\.)*)"'
_CHECKED = rb'(?:, "checked": (?:null|"(?:[^"\\]|\\.)*"))?'  # absent from records written before sampling
_COMPARISON = re.compile(
    rb'\{"against": ' + _STR + _CHECKED + rb', "detail": (?:null|\{[^{}]*\}), "margin": ' + _NUM
    + rb', "max_abs": [^,]+, "max_abs_allowed": [^,]+, "max_abs_index": \[[^\]]*\], "max_rel": [^,]+'
    rb', "max_rel_allowed": [^,]+, "max_rel_index": \[[^\]]*\], "mismatched": \d+, "passed": (true|false)'
    rb', "problem": (null|"(?:[^"\\]|\\.)*"), "tensor": ' + _STR + rb', "total": \d+, "worst_allowed": [^,]+'
    rb', "worst_index": \[([^\]]*)\], "worst_reference": ' + _NUM + rb', "worst_value": [^,}]+\}')
"""One comparison as ``json.dumps(sort_keys=True)`` writes it; captures against, margin, passed,
problem, tensor, worst_index and worst_reference."""
_MARGIN = re.compile(rb'\{"against": ' + _STR + _CHECKED + rb', "detail": (?:null|\{[^{}]*\}), "margin": ' + _NUM)
"""The oracle and the margin of one comparison: all the summary needs of it."""
_TENSOR = re.compile(r"^d([ZWbA])(\d+)$")


def number(x) -> float:
    """A float from a record field: non-finite values are written as the strings 'inf' and 'nan'."""
    if x is None:
        return math.nan
    try:
        return float(x)
    except (TypeError, ValueError):
        return math.nan


def tensor_order(name: str) -> tuple:
    """Sort key for tensor names in backward order: loss, then dZ_l, dW_l, db_l from the last layer
    down, then dA0 (and anything unknown last, by name)."""
    if name == "answer":
        return (0, 0, 0, name)
    if name == "loss":
        return (1, 0, 0, name)
    m = _TENSOR.match(str(name))
    if not m:
        return (3, 0, 0, str(name))
    kind, layer = m.groups()
    return (2, -int(layer), "ZWbA".index(kind), name)


def case_key(case) -> str:
    """The canonical JSON of a case: the same case checked twice has the same key."""
    return json.dumps(case, sort_keys=True)


@dataclass(frozen=True)
class Comparison:
    """What the report keeps of one comparison without reading its detail."""

    against: str
    tensor: str
    margin: float
    passed: bool
    problem: str | None
    worst_index: tuple[int, ...] | None
    """None where the record is compact: it keeps the margin alone."""
    worst_reference: float


@dataclass(slots=True)
class Case:
    """One ``case`` record, reduced to what the summary, the tables and the histograms need."""

    env: str
    """The environment's column in the report (see ``Results.envs``)."""
    label: str
    """The record's own ``env`` label."""
    source: int
    offset: int
    """Where the full record is: the file ``path`` at this byte offset."""
    path: str
    case: dict
    key: str
    sut: str
    verdict: str
    first_divergence: str | None
    layer: int | None
    problems: list
    test: str
    worker: str | None
    seconds: float
    reproduce: str
    oracles: dict
    margins: dict
    """oracle -> the largest margin of the SUT against it, over every tensor (loss included)."""
    pair_margin: float
    """The largest margin between two oracles."""
    contract_broken: bool
    """A comparison failed on shape or dtype (its margin says nothing)."""
    has_values: bool
    phase: str | None = None
    """The Hypothesis phase that drew the case (generate, explicit, shrink, reuse; None in older records)."""

    @property
    def margin(self) -> float:
        """The SUT's worst margin over all oracles (0 when nothing was compared)."""
        return max(self.margins.values(), default=0.0)

    @property
    def failing(self) -> bool:
        return self.verdict in FAILING

    def severity(self) -> tuple:
        """Sort key, most severe first: verdict (fail, oracle_disagreement, no_oracle), then the
        margin, largest first; a broken contract (crash, shape, dtype, NaN) counts as an infinite margin."""
        rank = FAILING.index(self.verdict) if self.verdict in FAILING else len(FAILING)
        margin = self.pair_margin if self.verdict == "oracle_disagreement" else self.margin
        if self.contract_broken or (self.verdict == "fail" and self.problems):
            margin = math.inf
        margin = -1.0 if math.isnan(margin) else margin
        return (rank, -margin, self.env, self.key, self.test, self.offset)


@dataclass
class Source:
    path: str
    name: str
    """The file's name, or its path where several files have the same name."""
    labels: Counter = field(default_factory=Counter)
    bad_lines: int = 0
    status: _results.FileStatus | None = None
    """Whether the run that wrote it finished (``crosscheck.results``): the report never calls an
    incomplete file a pass."""


@dataclass
class Results:
    """Every record of the given results files, grouped by kind and environment."""

    sources: list[Source]
    cases: list[Case]
    runs: dict[str, list[dict]]
    """env column -> its run records."""
    blobs: dict[tuple[int, str], list[str]]
    """(source, test node id) -> Hypothesis blobs of that test."""
    mutants: list[dict]
    envs: list[str]
    """The environment columns: the env label, or the file name where two files share a label."""
    unknown_kinds: Counter
    parsed: Counter = field(default_factory=Counter)
    """How the case lines were read: 'fast' (``_parse_case_line``) or 'slow' (the whole line parsed)."""

    def record(self, case: Case) -> dict:
        """The full JSON record of a case, read again from its file."""
        with open(case.path, "rb") as f:
            f.seek(case.offset)
            return json.loads(f.readline())

    def without_comparisons(self, case: Case) -> dict:
        """The case's record without its comparison lists (all ``diagnose`` reads of it: the case, the
        verdict, the first divergence and its kept tensors), read again from its file."""
        with open(case.path, "rb") as f:
            f.seek(case.offset)
            line = f.readline()
        cut = _cut(line)
        if cut is not None:
            try:
                record = json.loads(cut[0])
                if isinstance(record, dict):
                    return record
            except ValueError:
                pass
        record = json.loads(line)
        return {k: v for k, v in record.items() if k not in ("comparisons", "oracle_pairs")}

    def comparisons(self, case: Case) -> list[Comparison]:
        """The case's comparisons of the SUT with each oracle, without their detail (of a compact
        record: its margins, each with no worst entry)."""
        with open(case.path, "rb") as f:
            f.seek(case.offset)
            line = f.readline()
        cut = _cut(line)
        found = _fast_comparisons(cut[1]) if cut is not None else None
        if found is not None:
            return found
        record = json.loads(line)
        if "margins" in record:
            margins, _ = record_margins(record)
            return [Comparison(o, t, m, m <= 1, None, None, math.nan)
                    for o, by in margins.items() for t, m in by.items()]
        return [_comparison(c) for c in dicts(record.get("comparisons"))]

    def values(self, case: Case) -> dict | None:
        """The oracles' answers recorded with ``--record-values`` (None without them)."""
        if not case.has_values:
            return None
        with open(case.path, "rb") as f:
            f.seek(case.offset)
            line = f.readline()
        v, w = line.find(b'"values": {'), line.rfind(b'}, "verdict": ')
        values = None
        if 0 <= v < w:
            try:
                values = json.loads(line[v + 10:w + 1])
            except ValueError:
                pass
        if values is None:
            values = json.loads(line).get("values")
        return values if isinstance(values, dict) else None


def dicts(x) -> list[dict]:
    """The dicts in a record's list field (a comparisons list); anything else is skipped."""
    return [c for c in x if isinstance(c, dict)] if isinstance(x, list) else []


def _comparison(c: dict) -> Comparison:
    index = c.get("worst_index") or []
    return Comparison(str(c.get("against")), str(c.get("tensor")), number(c.get("margin")), bool(c.get("passed")),
                      c.get("problem"), tuple(int(i) for i in index if isinstance(i, int)),
                      number(c.get("worst_reference")))


def _name(raw: bytes) -> str:
    return raw.decode() if b"\\" not in raw else json.loads(b'"' + raw + b'"')


def _fast_comparisons(segment: bytes) -> list[Comparison] | None:
    """The comparisons of one list, read with ``_COMPARISON``; None unless every one matched."""
    found = _COMPARISON.findall(segment)
    if len(found) != segment.count(b'{"against": '):
        return None
    return [Comparison(_name(against), _name(tensor), number(margin.strip(b'"')), passed == b"true",
                       None if problem == b"null" else json.loads(problem),
                       tuple(int(i) for i in index.split(b",") if i.strip()), number(reference.strip(b'"')))
            for against, margin, passed, problem, tensor, index, reference in found]


def _fast_margins(segment: bytes) -> dict[str, float] | None:
    """oracle -> largest margin in one list of comparisons; None unless every one matched."""
    found = _MARGIN.findall(segment)
    if len(found) != segment.count(b'{"against": '):
        return None
    out: dict[str, float] = {}
    for against, margin in found:
        name = _name(against)
        m = number(margin.strip(b'"'))
        m = math.inf if math.isnan(m) else m
        if m > out.get(name, -1.0):
            out[name] = m
    return out


def _list(line: bytes, key: bytes) -> tuple[int, int, int, int] | None:
    """Where the list of dicts under ``key`` is in a sort_keys line: the key's start, the content's start
    and end, and the next key's start; None unless the key occurs once and its list ends as such a list
    does (a dict's end, the list's, then the next key: no JSON string holds an unescaped quote)."""
    marker = b'"' + key + b'": ['
    a = line.find(marker)
    if a < 0 or line.find(marker, a + 1) >= 0:
        return None
    start = a + len(marker)
    if line.startswith(b'], "', start):
        return a, start, start, start + 3
    end = line.find(b'}], "', start)
    return None if end < 0 else (a, start, end + 1, end + 4)


def _cut(line: bytes):
    """Split a sort_keys full case line into (the rest, comparisons list, oracle_pairs list), or None."""
    comparisons, pairs = _list(line, b"comparisons"), _list(line, b"oracle_pairs")
    if comparisons is None or pairs is None or comparisons[3] > pairs[0]:
        return None
    (a, s1, e1, b), (c, s2, e2, d) = comparisons, pairs
    return line[:a] + line[b:c] + line[d:], line[s1:e1], line[s2:e2]


def _strip_values(rest: bytes) -> tuple[bytes, bool]:
    """Cut a non-null ``values`` out of the rest of a line (it is read again when needed)."""
    v = rest.find(b'"values": ')
    if v < 0 or rest.startswith(b"null", v + 10):
        return rest, False
    w = rest.find(b', "verdict": ', v)
    if w < 0:
        return rest, True
    return rest[:v] + b'"values": null' + rest[w:], True


def _worst(margins: dict[str, dict[str, float]]) -> dict[str, float]:
    """oracle -> its largest margin over the tensors (nan, no number, counts as inf)."""
    return {o: max((math.inf if math.isnan(m) else m for m in by.values()), default=0.0) for o, by in margins.items()}


def _parse_case_line(line: bytes):
    """A case line of either form: (the record without its comparisons, margins, pair margins, a comparison
    failed on shape or dtype, has values), or None where the line does not have the expected layout."""
    if line.count(b'"values": ') > 1 or line.count(b'"margins": ') > 1:
        return None
    cut = _cut(line)
    if cut is None:  # compact: small, parsed whole but for recorded values
        if b'"comparisons": ' in line or b'"oracle_pairs": ' in line or b'"margins": {' not in line:
            return None
        rest, has_values = _strip_values(line)
        try:
            record = json.loads(rest)
        except ValueError:
            return None
        if not isinstance(record, dict) or not isinstance(record.get("margins"), dict):
            return None
        margins, pairs = record_margins(record)
        return record, _worst(margins), pairs, False, has_values
    rest, comp_seg, pair_seg = cut
    margins, pairs = _fast_margins(comp_seg), _fast_margins(pair_seg)
    if margins is None or pairs is None:
        return None
    rest, has_values = _strip_values(rest)
    try:
        record = json.loads(rest)
    except ValueError:
        return None
    if not isinstance(record, dict) or "comparisons" in record or "oracle_pairs" in record or "margins" in record:
        return None
    return record, margins, pairs, b'"problem": "' in comp_seg, has_values


def _text(x) -> str:
    return x if isinstance(x, str) else json.dumps(x, sort_keys=True)


def _case(record: dict, margins, pairs, broken, has_values, source: int, offset: int, path: str) -> Case:
    case = record.get("case")
    case = case if isinstance(case, dict) else {"case": case}
    oracles = record.get("oracles") if isinstance(record.get("oracles"), dict) else {}
    problems = record.get("problems") if isinstance(record.get("problems"), list) else []
    layer = record.get("layer")
    return Case(
        env="", label=_text(record.get("env", "")), source=source, offset=offset, path=path, case=case,
        key=case_key(case),
        sut=_text(record.get("sut", "")), verdict=_text(record.get("verdict", "")),
        first_divergence=None if record.get("first_divergence") is None else _text(record["first_divergence"]),
        layer=layer if isinstance(layer, int) else None, problems=[_text(p) for p in problems],
        test=_text(record.get("test", "")), worker=None if record.get("worker") is None else _text(record["worker"]),
        seconds=number(record.get("seconds")),
        reproduce=_reproduce(record),
        oracles={_text(k): v for k, v in oracles.items() if isinstance(v, dict)},
        margins=margins, pair_margin=max((math.inf if math.isnan(m) else m for m in pairs.values()), default=0.0),
        contract_broken=broken, has_values=has_values,
        phase=None if record.get("phase") is None else _text(record["phase"]),
    )


def _reproduce(record: dict) -> str:
    """The record's reproduce command (a compact record's is made from its case)."""
    try:
        return _text(reproduce_of(record))
    except Exception:  # noqa: BLE001  (a record no harness wrote)
        return _text(record.get("reproduce", ""))


def load(paths) -> Results:
    """Read every record of the results files; names each environment column (see ``Results.envs``)."""
    sources, cases, runs, blobs, mutants = [], [], [], defaultdict(list), []
    unknown, parsed_as = Counter(), Counter()
    for i, path in enumerate(paths):
        source = Source(str(path), Path(path).name)
        sources.append(source)
        parts, run_records, n_records = _results.parts_of(Path(path)), [], 0
        for file in [str(path), *map(str, parts)]:  # a killed run's parts are read with its file
            offset = 0
            with open(file, "rb") as f:
                for line in f:
                    start, offset = offset, offset + len(line)
                    if not line.strip():
                        continue
                    parsed = _parse_case_line(line) if line.startswith(b'{"case": ') else None
                    if parsed is None:
                        try:
                            record = json.loads(line)
                        except ValueError:
                            source.bad_lines += 1
                            continue
                        if not isinstance(record, dict):
                            source.bad_lines += 1
                            continue
                        n_records += 1
                        kind = record.get("kind", "case")
                        if kind == "case":
                            parsed_as["slow"] += 1
                            margins, pairs = record_margins(record)
                            parsed = (record, _worst(margins), pairs,
                                      any(c.get("problem") for c in dicts(record.get("comparisons"))),
                                      bool(record.get("values")))
                        elif kind == "run":
                            runs.append((i, record))
                            run_records.append(record)
                            source.labels[_text(record.get("env", ""))] += 0
                            continue
                        elif kind == _results.START:
                            run_records.append(record)
                            continue
                        elif kind == "blob":
                            blobs[(i, _text(record.get("test", "")))].append(_text(record.get("blob", "")))
                            continue
                        elif kind == "mutant":
                            mutants.append(record)
                            continue
                        else:
                            unknown[_text(kind)] += 1
                            continue
                    else:
                        n_records += 1
                        parsed_as["fast"] += 1
                    if parsed[0].get("kind", "case") != "case":
                        unknown[_text(parsed[0].get("kind"))] += 1
                        continue
                    c = _case(*parsed, i, start, file)
                    source.labels[c.label] += 1
                    cases.append(c)
        source.status = _results.judge(Path(path), run_records, source.bad_lines, parts, n_records)

    names = Counter(s.name for s in sources)
    for s in sources:
        if names[s.name] > 1:  # results.jsonl in several folders: say which
            s.name = os.path.normpath(s.path)
    column = _columns(sources)
    for c in cases:
        c.env = column[(c.source, c.label)]
    env_runs: dict[str, list[dict]] = defaultdict(list)
    for i, record in runs:
        env_runs[column[(i, _text(record.get("env", "")))]].append(record)
    envs = []  # in the order the files and their labels first appear
    for i, s in enumerate(sources):
        for label in sorted(s.labels):
            if column[(i, label)] not in envs:
                envs.append(column[(i, label)])
    return Results(sources, cases, dict(env_runs), dict(blobs), mutants, envs, unknown, parsed_as)


def _columns(sources: list[Source]) -> dict[tuple[int, str], str]:
    """(source, env label) -> the environment's column: its label, or, where another file has the same
    label, the file's name (its path where two files share a name)."""
    files_of = defaultdict(set)
    for i, s in enumerate(sources):
        for label in s.labels:
            files_of[label].add(i)
    out = {}
    for i, s in enumerate(sources):
        name = s.name
        for label in s.labels:
            if len(files_of[label]) == 1:
                out[(i, label)] = label
            elif len(s.labels) == 1:
                out[(i, label)] = name
            else:
                out[(i, label)] = f"{label} @ {name}"
    return out


# --- aggregation ----------------------------------------------------------------------------------

def _values_of(case: dict, field_name: str) -> list[str]:
    value = case.get(field_name)
    if isinstance(value, list):
        return sorted({_text(v) for v in value})
    return [] if value is None else [_text(value)]


def summary(results: Results) -> dict:
    """Per environment column (and ``ALL`` when there are several): counts, versions, timing."""
    groups = {env: [c for c in results.cases if c.env == env] for env in results.envs}
    columns = list(results.envs)
    if len(columns) > 1:
        groups[ALL] = results.cases
        columns.append(ALL)
    cols = {}
    for env in columns:
        cases = groups[env]
        oracles = Counter(name for c in cases for name, s in c.oracles.items() if s.get("ran"))
        by = {f: Counter(v for c in cases for v in _values_of(c.case, f)) for f in CASE_FIELDS}
        runs = results.runs.get(env, []) if env != ALL else [r for e in results.envs for r in results.runs.get(e, [])]
        cols[env] = {
            "cases": len(cases), "distinct": len({c.key for c in cases}),
            "verdicts": Counter(c.verdict for c in cases), "oracles": oracles, "by": by,
            "suts": sorted({c.sut for c in cases}),
            "files": sorted({results.sources[c.source].name for c in cases}),
            "run": _run_fields(runs),
        }
    rows = {f: sorted({v for col in cols.values() for v in col["by"][f]}) for f in CASE_FIELDS}
    oracles = sorted({o for col in cols.values() for o in col["oracles"]})
    verdicts = list(VERDICTS) + sorted({v for col in cols.values() for v in col["verdicts"]} - set(VERDICTS))
    return {"columns": columns, "cols": cols, "rows": rows, "oracles": oracles, "verdicts": verdicts}


RUN_FIELDS = ("workers", "hypothesis_profile", "hypothesis_seed", "python", "numpy", "scipy", "torch", "jax", "jaxlib",
              "hypothesis", "pytest", "platform", "oracles")


def _run_fields(runs: list[dict]) -> dict[str, str]:
    """The run records' fields as text: several runs in one column list their distinct values, add up
    their durations and give the earliest start."""
    out = {}
    for name in RUN_FIELDS:
        values = set()
        for r in runs:
            versions = r.get("versions") if isinstance(r.get("versions"), dict) else {}
            v = versions.get(name) if name in versions else r.get(name)
            if isinstance(v, list):
                v = ",".join(_text(x) for x in v)
            values.add("—" if v is None else str(v) if isinstance(v, (int, float)) else _text(v))
        out[name] = ", ".join(sorted(values))
    durations = [number(r.get("duration")) for r in runs if r.get("duration") is not None]
    out["duration"] = f"{sum(durations):.1f} s" if durations else ""
    starts = [t for t in (number(r.get("started")) for r in runs) if math.isfinite(t) and 0 <= t < 1e11]
    earliest = datetime.fromtimestamp(min(starts), timezone.utc) if starts else None
    out["started"] = earliest.strftime("%Y-%m-%d %H:%M:%S UTC") if earliest else ""
    return out

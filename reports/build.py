"""Rendering the report: results files in, one self-contained HTML file out.

``build_report`` is what ``pytest --report=FILE.html`` (crosscheck/plugin.py) and
``python -m reports build`` call. It loads the records (``reports.data``), compares environments
(``reports.environments``), draws the figures (``reports.figures``) and renders
``templates/report.html.j2`` through Jinja2 with autoescape on: every string from a results file is
escaped, and the only markup that is not written by the template is matplotlib's SVG.

The same inputs give the same bytes: everything is sorted, the figures are deterministic, and the
only clock read is the optional ``timestamp``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

try:
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    from reports import figures
except ImportError as exc:  # pragma: no cover - depends on the install
    raise ImportError(f"the HTML report needs the 'report' extra (pip install -e '.[report]'): {exc}") from exc
from crosscheck import sampling
from crosscheck.check import DETAIL_MAX_ENTRIES, FAILING
from crosscheck.sampling import ALONG_DIRECTION
from reports import environments
from reports.data import Case, Results, dicts, load, number, summary, tensor_order

MAX_DETAILED = 50
"""Failing cases shown in full (heatmaps, tables), smallest first; the rest are in the case table."""
OPEN_FAILURES = 3
"""Failure cards open when the page loads; the others are collapsed (``<details>``)."""
SMALL_TENSOR = 4
"""A diverging tensor with fewer entries than this gets a table of its values instead of a heatmap."""
TOOLTIP_MAX_ENTRIES = 1024
"""Heatmaps of at most this many entries carry every entry's numbers for the hover tooltip; a larger one's
tooltip names the entry only (the page stays small)."""
EXAMPLES = 3
"""Failing cases a diagnosis links to."""
COUNTED_PHASES = (None, "generate", "explicit")
"""The Hypothesis phases whose records ``crosscheck.diagnose`` counts (None: a record written before phases)."""
MAX_DIAGNOSED = 100
"""Failing records of one SUT (of the counted phases) the report's diagnosis reasons over (the first in
the results files; every passing one contrasts): diagnose rebuilds each failing case to read its
relation, a few milliseconds a case. ``python -m crosscheck diagnose`` reads them all."""
MAX_HEATMAP_TENSORS = 4
"""Diverging tensors drawn as heatmaps per failing case: the first one and the next three in backward order."""
MAX_TABLE_ROWS = 10_000
"""Rows of the case table: every failing case first, then passing ones in a fixed order."""
MAX_SAMPLED = 50
"""Sampled cases whose probes are listed entry by entry; the rest are counted."""
TEMPLATES = Path(__file__).parent / "templates"


def build_report(paths, out, timestamp=False) -> Path:
    """Build the HTML report of the results files ``paths`` into ``out``; ``timestamp`` adds the build time."""
    results = load([str(p) for p in paths])
    generated = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC") if timestamp else None
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(results, generated), encoding="utf-8")
    return out


def render(results: Results, generated: str | None = None) -> str:
    """The report's HTML."""
    groups = _failure_groups(results)
    detailed = [_failure(results, g, n) for n, g in enumerate(groups[:MAX_DETAILED], start=1)]
    anchors = {key: f"failure-{n}" for n, g in enumerate(groups[:MAX_DETAILED], start=1) for key in g.members}
    rows, total = _case_rows(results, anchors)
    failing = [c for c in results.cases if c.failing]
    envcmp = environments.compare(results)
    s = summary(results)
    return _jinja().get_template("report.html.j2").render(
        results=results,
        sources=[{"name": s.name, "labels": sorted(s.labels), "bad_lines": s.bad_lines} for s in results.sources],
        # a run that did not finish, or whose pytest failed, is never shown as a pass
        unfinished=[{"name": s.name, "reasons": s.status.reasons} for s in results.sources
                    if s.status is not None and not s.status.complete],
        run_failed=[{"name": s.name, "reasons": s.status.reasons} for s in results.sources
                    if s.status is not None and s.status.complete and s.status.reasons],
        failing_verdicts=FAILING,
        summary=s,
        run_differs=_run_differs(s, results.envs),
        diagnosis=_diagnosis(results, groups, anchors),
        failing_records=len(failing),
        failures=detailed,
        failure_groups=len(groups),
        more_failures=max(0, len(groups) - MAX_DETAILED),
        max_heatmap_tensors=MAX_HEATMAP_TENSORS, detail_max_entries=f"{DETAIL_MAX_ENTRIES:,}",
        histograms=_histograms(results),
        passing=sum(c.verdict == "pass" for c in results.cases),
        envcmp=envcmp,
        mutants=_mutants(results),
        sampled=_sampled(results),
        rows=rows,
        rows_total=total,
        multi_env=len(results.envs) > 1,
        multi_sut=len({c.sut for c in results.cases}) > 1,
        legend=figures.LEGEND,
        open_failures=OPEN_FAILURES, small_tensor=SMALL_TENSOR,
        generated=generated,
        unknown_kinds=sorted(results.unknown_kinds.items()),
    )


def _run_differs(s: dict, envs: list[str]) -> dict[str, bool]:
    """Run field -> whether the environments' columns differ in it (a version that moved, say)."""
    if len(envs) < 2:
        return {}
    fields = next(iter(s["cols"].values()))["run"]
    return {name: len({s["cols"][e]["run"][name] for e in envs}) > 1 for name in fields
            if name not in ("duration", "started")}  # a run's own: they always differ


def _diagnosis(results: Results, groups: list[FailureGroup], anchors: dict) -> list[dict]:
    """``crosscheck.diagnose``'s findings per SUT, each with links to a few of its failing cases (shown
    smallest first); empty when nothing failed. A case checked in several environments counts once."""
    from crosscheck import diagnose

    by_sut: dict[str, list[dict]] = {}
    first_env: dict[tuple[str, str], str] = {}
    failing: dict[str, int] = {}
    for c in results.cases:
        if first_env.setdefault((c.sut, c.key), c.env) != c.env:
            continue  # the same case in another environment: counted once, as diagnose counts one file
        if c.verdict == "fail":  # diagnose reads the kept tensors of a failing record
            if c.phase not in COUNTED_PHASES:
                continue  # a shrink or a replay: diagnose leaves it out
            failing[c.sut] = failing.get(c.sut, 0) + 1
            if failing[c.sut] > MAX_DIAGNOSED:
                continue
            record = results.without_comparisons(c)
        else:
            record = {"kind": "case", "case": c.case, "verdict": c.verdict, "phase": c.phase, "sut": c.sut}
        by_sut.setdefault(c.sut, []).append(record)
    out = []
    for sut in sorted(by_sut):
        groups_of = [g for g in groups if g.case.sut == sut]
        if not groups_of:
            continue
        findings = diagnose.diagnose(by_sut[sut], replay_catalogue=True)
        examples = [(anchors[g.ident], g.case) for g in groups_of if g.ident in anchors][:EXAMPLES]
        out.append({"sut": sut, "findings": findings, "examples": examples, "failing": len(groups_of),
                    "records": failing.get(sut, 0), "capped": failing.get(sut, 0) > MAX_DIAGNOSED,
                    "max": MAX_DIAGNOSED})
    return out


def _sampled(results: Results) -> dict | None:
    """What the probes of each sampled case checked (``crosscheck.sampling``), from its record."""
    cases = [c for c in results.cases if isinstance(c.case, dict) and "sample" in c.case]
    if not cases:
        return None
    shown = []
    for c in cases[:MAX_SAMPLED]:
        record = results.record(c)
        probed = _probed(record)
        checked = {}
        for x in dicts(record.get("comparisons")):
            if x.get("checked") and compact(x.get("against")) in probed:
                checked.setdefault(compact(x.get("tensor")), compact(x.get("checked")))
        if "margins" in record and probed:  # compact: the probes are the case's own (crosscheck.sampling)
            checked = _planned(c.case, {t for o in probed for t in (record["margins"].get(o) or {})})
        shown.append({"c": c, "probed": probed, "units": _units(c.case),
                      "tensors": [(t, checked[t]) for t in sorted(checked, key=tensor_order)]})
    return {"total": len(cases), "shown": shown}


def _planned(case: dict, tensors: set[str]) -> dict[str, str]:
    """tensor -> which entries a sampled case's probes check, from the plan its case makes."""
    try:
        plan = sampling.plan(case, int(case.get("batch", 1)))
    except Exception:  # noqa: BLE001  (a case no harness wrote)
        return {}
    return {t: plan[t].describe() for t in tensors if t in plan}


def _jinja() -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True, undefined=StrictUndefined,
                      trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.filters.update(g3=g3, idx=idx, at=at, compact=compact, describe=describe)
    env.tests.update(shown_verdict=_shown_verdict,
                     differs_values=lambda e: environments.differs(e, True),
                     differs_fields=lambda e: environments.differs(e, False))
    return env


def _shown_verdict(verdict: str, s: dict) -> bool:
    """The summary shows pass, fail and every verdict some case has; the rest are named in one line."""
    return verdict in ("pass", "fail") or any(col["verdicts"][verdict] for col in s["cols"].values())


# --- formatting (Jinja filters) -------------------------------------------------------------------

def g3(x) -> str:
    """A number with 3 significant digits; inf and nan as words, a missing one as a dash."""
    if x is None or x == "":
        return "—"
    v = number(x)
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return f"{v:.3g}"


def idx(index) -> str:
    """An index as (i, j); a scalar's empty index as a dash."""
    if not index:
        return "—"
    return "(" + ", ".join(str(i) for i in index) + ")"


def at(index) -> str:
    """' at (i, j)', or nothing for a scalar."""
    return f" at {idx(index)}" if index else ""


def compact(value) -> str:
    """A case field as short text: lists joined with commas."""
    if isinstance(value, list):
        return ", ".join(compact(v) for v in value)
    if value is None:
        return "—"
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def describe(case: dict) -> str:
    """A case in one line: sizes · activations · loss · layout · dtype · reduction · batch · scale · seed."""
    if not isinstance(case, dict):
        return compact(case)
    parts = [f"[{compact(case.get('sizes'))}]"] + [compact(case.get(k)) for k in CASE_COLUMNS[1:6]]
    parts += [f"m={compact(case.get('batch'))}", compact(case.get("scale")), f"seed {compact(case.get('seed'))}"]
    return " · ".join(parts)


def _sort_value(x: float) -> str:
    v = number(x)
    return "NaN" if math.isnan(v) else ("Infinity" if v == math.inf else ("-Infinity" if v == -math.inf else repr(v)))


# --- failures ------------------------------------------------------------------------------------

@dataclass
class FailureGroup:
    """A failing case: every failing record of the same case in the same environment with the same SUT
    (Hypothesis replays its final failing example, so many appear twice), and of its twin in the other
    layout (the same maths: rows and columns differ only in how the SUT's arrays are laid out).
    ``case`` is the most severe of them."""

    case: Case
    count: int = 1
    tests: set = field(default_factory=set)
    layouts: set = field(default_factory=set)
    members: set = field(default_factory=set)
    """(env, sut, case key) of every record in the group."""
    severity_rank: int = 0
    """Its place in the most-severe-first order (the report's other order)."""

    @property
    def ident(self) -> tuple:
        return (self.case.env, self.case.sut, self.case.key)


def twin_key(case: dict) -> str:
    """A case's key without its layout: a case and its twin in the other layout share it."""
    return json.dumps({k: v for k, v in case.items() if k != "layout"}, sort_keys=True)


def case_size(case: dict) -> tuple:
    """Sort key, smallest case first: fewest layers, then fewest units, then fewest examples (an op
    case, which has no sizes, by its dimensions)."""
    sizes = case.get("sizes")
    if isinstance(sizes, list) and all(isinstance(s, int) for s in sizes):
        units = sum(sizes)
        depth = len(sizes)
    else:
        dims = case.get("dims") if isinstance(case.get("dims"), dict) else {}
        values = [v for v in dims.values() if isinstance(v, int)]
        depth, units = 0, math.prod(values) if values else 0
    batch = case.get("batch")
    return (depth, units, batch if isinstance(batch, int) else 0)


def _failure_groups(results: Results) -> list[FailureGroup]:
    """The failing cases, smallest first (within a verdict: fail, oracle_disagreement, no_oracle); ties
    go to the most severe. Hypothesis shrinks a failure towards the smallest case, and that is the one
    to read first: a saturated margin of 1e14 tells less than a clean minimal case."""
    groups: dict[tuple, FailureGroup] = {}
    for c in sorted((c for c in results.cases if c.failing), key=Case.severity):
        key = (c.env, c.sut, twin_key(c.case))
        g = groups.get(key)
        if g is None:
            g = groups[key] = FailureGroup(c, 0, set(), set(), set(), len(groups))
        g.count += 1
        g.tests.add(c.test)
        g.members.add((c.env, c.sut, c.key))
        if isinstance(c.case.get("layout"), str):
            g.layouts.add(c.case["layout"])
    rank = {v: i for i, v in enumerate(FAILING)}
    return sorted(groups.values(), key=lambda g: (rank.get(g.case.verdict, len(FAILING)), case_size(g.case.case),
                                                  g.severity_rank))


def divergence(c: Case) -> str:
    """The first diverging tensor with its layer's activation ("dZ2 (leaky_relu)"), or the loss's name."""
    t = c.first_divergence
    if not t:
        return ""
    if t == "loss" and isinstance(c.case.get("loss"), str):
        return f"loss ({c.case['loss']})"
    acts = c.case.get("activations")
    if c.layer is not None and isinstance(acts, list) and 0 < c.layer <= len(acts):
        return f"{t} ({compact(acts[c.layer - 1])})"
    return t


AXES = {"Z": ("examples", "units of layer {l}"), "A": ("examples", "units of layer {l}"),
        "W": ("units of layer {p} (inputs)", "units of layer {l}"), "b": ("one row", "units of layer {l}")}


def _axes(tensor: str) -> str:
    order = tensor_order(tensor)
    if order[0] != 2:
        return ""
    kind, layer = tensor[1], -order[1]
    rows, cols = AXES[kind]
    return f"rows: {rows.format(l=layer, p=layer - 1)}; columns: {cols.format(l=layer)} (rows layout)"


def _where(index, checked) -> str:
    """' at (i, j)'; for a sampled comparison (``checked``), index [] is the probe along the direction."""
    return f" {ALONG_DIRECTION}" if checked and not index else at(index)


def _cell(c: dict | None) -> dict | None:
    if c is None:
        return None
    checked = c.get("checked")
    return {
        "checked": checked,
        "where_abs": _where(c.get("max_abs_index") or [], checked),
        "where_worst": _where(c.get("worst_index") or [], checked),
        "passed": bool(c.get("passed")), "problem": c.get("problem"),
        "mismatched": c.get("mismatched"), "total": c.get("total"),
        "max_abs": c.get("max_abs"), "max_abs_index": c.get("max_abs_index") or [],
        "max_abs_allowed": c.get("max_abs_allowed"),
        "margin": c.get("margin"), "worst_index": c.get("worst_index") or [],
        "max_rel": c.get("max_rel"), "where_rel": _where(c.get("max_rel_index") or [], checked),
        "ratio": _ratio(c.get("worst_value"), c.get("worst_reference")),
        "worst_value": c.get("worst_value"), "worst_reference": c.get("worst_reference"),
        "worst_allowed": c.get("worst_allowed"),
    }


def _ratio(value, reference) -> float:
    """SUT ÷ oracle at one entry (nan where the oracle's entry is 0)."""
    v, r = number(value), number(reference)
    return v / r if r and math.isfinite(r) else math.nan


def _layers(case: dict, layer) -> list[dict]:
    sizes, acts = case.get("sizes"), case.get("activations")
    if not isinstance(sizes, list) or not sizes:
        return []
    acts = acts if isinstance(acts, list) else []
    out = [{"layer": 0, "units": compact(sizes[0]), "activation": "(input)", "here": False}]
    for i, units in enumerate(sizes[1:], start=1):
        activation = compact(acts[i - 1]) if i - 1 < len(acts) else "—"
        out.append({"layer": i, "units": compact(units), "activation": activation, "here": layer == i})
    return out


def oracle_groups(oracles: list[str], pairs: list[dict], alone=()) -> list[list[str]]:
    """The oracles in groups that agree among themselves on every tensor (each oracle joins the first
    group it agrees with member by member; a pair that was not compared does not agree). An oracle in
    ``alone`` (one that answered probes only, whose cells say which entries it checked) keeps its own."""
    compared, disagree = set(), set()
    for x in pairs:
        a, _, b = compact(x.get("against")).partition("~")
        compared.add(frozenset((a, b)))
        if not x.get("passed"):
            disagree.add(frozenset((a, b)))
    groups: list[list[str]] = []
    for o in oracles:
        for g in groups:
            if o in alone or g[0] in alone:
                continue
            if all(frozenset((o, m)) in compared and frozenset((o, m)) not in disagree for m in g):
                g.append(o)
                break
        else:
            groups.append([o])
    return groups


def _label(group: list[str]) -> str:
    return f"{', '.join(group)} agree" if len(group) > 1 else group[0]


def _worst_of(members: list[dict], prefer: str | None = None) -> dict | None:
    """The comparison that speaks for a group of agreeing oracles: ``prefer``'s (the oracle whose tensor
    the record kept) where it diverges as much as any, else the largest margin's."""
    if not members:
        return None

    def key(x):
        m = number(x.get("margin"))
        return (bool(x.get("problem")), math.inf if math.isnan(m) else m, compact(x.get("against")) == prefer)
    return max(members, key=key)


def _failure(results: Results, group: FailureGroup, n: int) -> dict:
    c = group.case
    record = results.record(c)
    comparisons = dicts(record.get("comparisons"))
    pairs = dicts(record.get("oracle_pairs"))
    oracles = sorted({compact(x.get("against")) for x in comparisons})
    by = {(compact(x.get("against")), compact(x.get("tensor"))): x for x in comparisons}
    tensors = sorted({t for _, t in by}, key=tensor_order)
    groups = oracle_groups(oracles, pairs, alone=_probed(record))
    kept = record.get("tensors") if isinstance(record.get("tensors"), dict) else {}
    rows = []
    for t in tensors:
        cells = []
        prefer = kept.get("oracle") if kept.get("tensor") == t else None
        for g in groups:
            x = _worst_of([by[(o, t)] for o in g if (o, t) in by], prefer)
            cell = _cell(x)
            if cell is not None:
                cell["oracle"] = compact(x.get("against")) if len(g) > 1 else ""
            cells.append(cell)
        rows.append({"tensor": t, "cells": cells, "first": t == c.first_divergence,
                     "diverges": any(cell is not None and not cell["passed"] for cell in cells)})
    heatmaps = []
    drawable = [r["tensor"] for r in rows if r["diverges"]
                and any(isinstance((by.get((o, r["tensor"])) or {}).get("detail"), dict) for o in oracles)]
    columns = c.case.get("layout") == "columns"
    for t in drawable[:MAX_HEATMAP_TENSORS]:
        chosen = []
        for g in groups:
            x = _worst_of([by[(o, t)] for o in g if isinstance((by.get((o, t)) or {}).get("detail"), dict)],
                          kept.get("oracle") if kept.get("tensor") == t else None)
            if x is not None:
                chosen.append((g, x, figures.as_array(x["detail"].get("abs_error"))))
        lo, hi = figures.colour_range([err for _, _, err in chosen])
        panels = []
        for g, x, err in chosen:
            panels.append(_panel(g, x, err, lo, hi, kept if kept.get("tensor") == t
                                 and kept.get("oracle") == compact(x.get("against")) else None))
        small = bool(panels) and all(p["entries"] < SMALL_TENSOR for p in panels)
        heatmaps.append({"tensor": t, "lo": lo, "hi": hi, "panels": panels, "axes": _axes(t), "small": small,
                         "ticks": figures.colour_ticks(lo, hi, (g3(lo), g3(hi))),
                         "columns": columns and _axes(t) != ""})
    pair_rows = {}
    for x in pairs:
        p = pair_rows.setdefault(compact(x.get("against")), {"pair": compact(x.get("against")), "agree": True,
                                                              "worst": -1.0, "tensor": "", "diverging": []})
        m = number(x.get("margin"))
        m = math.inf if math.isnan(m) else m
        if not x.get("passed"):
            p["agree"] = False
            p["diverging"].append(compact(x.get("tensor")))
        if m > p["worst"]:
            p["worst"], p["tensor"] = m, compact(x.get("tensor"))
    skipped = sorted((name, compact(s.get("reason"))) for name, s in c.oracles.items() if not s.get("ran"))
    diverging = [r["tensor"] for r in rows if r["diverges"]]
    first = _worst_of([by[(o, c.first_divergence)] for o in oracles if (o, c.first_divergence) in by
                       and not by[(o, c.first_divergence)].get("passed")])
    return {
        "n": n, "anchor": f"failure-{n}", "c": c, "count": group.count, "tests": sorted(group.tests),
        "layouts": sorted(group.layouts), "size_rank": n, "severity_rank": group.severity_rank,
        "divergence": divergence(c),
        "rel": first.get("max_rel") if first else None,
        "ratio": _ratio(first.get("worst_value"), first.get("worst_reference")) if first else None,
        "case_json": json.dumps(c.case, indent=2, sort_keys=True), "layers": _layers(c.case, c.layer),
        "oracles": oracles, "groups": [_label(g) for g in groups], "rows": rows, "heatmaps": heatmaps,
        "pairs": [pair_rows[k] for k in sorted(pair_rows)],
        "skipped": skipped, "diverging": diverging,
        "undrawn": [t for t in diverging if t not in {h["tensor"] for h in heatmaps}],
        "blobs": sorted(set(results.blobs.get((c.source, c.test), []))),
        "margin": c.pair_margin if c.verdict == "oracle_disagreement" else c.margin,
        "agree": sorted(o for o in oracles if (by.get((o, c.first_divergence)) or {}).get("passed")),
        "probed": _probed(record), "units": _units(c.case),
        "not_checked": [compact(t) for t in record.get("not_checked") or []],
        "convention": compact(record.get("convention") or "contract"),
        "output": compact(record.get("output") or ""),
    }


def _js(v: float):
    """A number for the tooltip's JSON: 6 digits; inf as a word, nan as null."""
    v = float(v)
    if math.isnan(v):
        return None
    return float(f"{v:.6g}") if math.isfinite(v) else ("inf" if v > 0 else "-inf")


def _flat(nested, shape) -> list | None:
    """A kept tensor's entries in row-major order (None where its shape is not the heatmap's)."""
    a = figures.as_array(nested)
    if a.shape != shape:
        return None
    return [_js(v) for v in a.ravel()]


def _panel(group: list[str], x: dict, err, lo: float, hi: float, kept: dict | None) -> dict:
    """One heatmap (or, for a tensor of a few entries, a table of its values) for a group of oracles."""
    cell = _cell(x)
    worst = tuple(cell["worst_index"]) if len(cell["worst_index"]) == 2 else None
    allowed = figures.as_array(x["detail"].get("allowed")) if x["detail"].get("allowed") is not None else None
    allowed = allowed if allowed is not None and allowed.shape == err.shape else None
    sut = _flat(kept["sut"], err.shape) if kept else None
    ref = _flat(kept["reference"], err.shape) if kept else None
    rows, cols = err.shape
    h, w = figures.cell_size(err.shape)
    panel = {"label": _label(group), "oracle": compact(x.get("against")), "cell": cell, "entries": err.size,
             "shape": "×".join(str(s) for s in err.shape), "kept": sut is not None,
             "error": _abs_diff(cell["worst_value"], cell["worst_reference"]),
             "same_entry": list(cell["max_abs_index"]) == list(cell["worst_index"])}
    if err.size < SMALL_TENSOR:
        entries = []
        for i, e in enumerate(err.ravel()):
            a = float(allowed.ravel()[i]) if allowed is not None else math.nan
            entries.append({"index": [int(j) for j in np.unravel_index(i, err.shape)], "error": float(e),
                            "allowed": a, "margin": float(e) / a if a else math.nan,
                            "sut": sut[i] if sut else None, "oracle": ref[i] if ref else None})
        panel["table"] = entries
        return panel
    tip = None
    if err.size <= TOOLTIP_MAX_ENTRIES:
        tip = {"e": [_js(v) for v in err.ravel()],
               "a": [_js(v) for v in allowed.ravel()] if allowed is not None else None, "s": sut, "o": ref}
    panel.update(svg=figures.heatmap(err, worst, lo, hi), h=h, w=w, rows=rows, cols=cols,
                 row_ticks=figures.ticks(rows, h, 14), col_ticks=figures.ticks(cols, w, 26),
                 tip=json.dumps(tip, separators=(",", ":"), allow_nan=False) if tip else "")
    return panel


def _abs_diff(a, b) -> float:
    return abs(number(a) - number(b))


def _probed(record: dict) -> list[str]:
    """The oracles that answered probes only: a record's ``probed`` list (anything else is none)."""
    probed = record.get("probed")
    return [compact(o) for o in probed if isinstance(o, str)] if isinstance(probed, list) else []


def _units(case: dict) -> str:
    """A sampled case's units a layer, as text (a dash where ``sample`` is not the contract's dict)."""
    sample = case.get("sample")
    return compact(sample.get("units")) if isinstance(sample, dict) else "—"


# --- passing margins, cases, mutants -------------------------------------------------------------

def _histograms(results: Results):
    margins: dict[tuple, list] = {}
    for c in results.cases:
        if c.verdict != "pass":
            continue
        dtype = compact(c.case.get("dtype"))
        for oracle, m in c.margins.items():
            margins.setdefault((oracle, dtype, c.env), []).append(m)
    if not margins:
        return None
    oracles = sorted({o for o, _, _ in margins})
    dtypes = sorted({d for _, d, _ in margins})
    return figures.margin_histograms(margins, oracles, dtypes, results.envs)


CASE_COLUMNS = ("sizes", "activations", "loss", "layout", "dtype", "reduction", "batch", "scale", "seed")


def _case_rows(results: Results, anchors: dict) -> tuple[list[dict], int]:
    rank = {v: i for i, v in enumerate(FAILING)}
    failing = sorted((c for c in results.cases if c.failing),
                     key=lambda c: (rank[c.verdict], case_size(c.case), c.severity()))
    others = sorted((c for c in results.cases if not c.failing),
                    key=lambda c: (c.env, c.key, c.test, c.source, c.offset))
    chosen = (failing + others)[:MAX_TABLE_ROWS]
    rows = []
    for c in chosen:
        margin = c.pair_margin if c.verdict == "oracle_disagreement" else c.margin
        rows.append({
            "env": c.env, "sut": c.sut, "verdict": c.verdict, "first": divergence(c),
            "margin": g3(margin) if c.margins or c.verdict == "oracle_disagreement" else "—",
            "margin_v": _sort_value(margin if c.margins or c.verdict == "oracle_disagreement" else -1),
            "fields": [compact(c.case.get(k)) for k in CASE_COLUMNS],
            "seconds": g3(c.seconds), "seconds_v": _sort_value(c.seconds), "test": c.test,
            "anchor": anchors.get((c.env, c.sut, c.key)), "reproduce": c.reproduce if c.failing else "",
        })
    return rows, len(results.cases)


MUTANT_FIELDS = ("mutant", "bug_class", "cases", "kills", "first_kill", "expected_first", "first_divergence",
                 "caught_by", "mislocalized", "killed", "localized")


def _mutants(results: Results) -> list[dict]:
    rows = []
    for m in results.mutants:
        row = {k: m.get(k) for k in MUTANT_FIELDS}
        if isinstance(m.get("mislocalized"), list):
            row["mislocalized"] = len(m["mislocalized"])  # the killing cases that named the wrong tensor
        rows.append({k: compact(v) if not isinstance(v, bool) else v for k, v in row.items()})
    return sorted(rows, key=lambda r: (r["mutant"], r["bug_class"], json.dumps(r, sort_keys=True)))



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
"""Failing cases shown in full (heatmaps, tables), most severe first; the rest are in the case table."""
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
    anchors = {g.ident: f"failure-{n}" for n, g in enumerate(groups[:MAX_DETAILED], start=1)}
    rows, total = _case_rows(results, anchors)
    failing = [c for c in results.cases if c.failing]
    return _jinja().get_template("report.html.j2").render(
        results=results,
        sources=[{"name": s.name, "labels": sorted(s.labels), "bad_lines": s.bad_lines} for s in results.sources],
        # a run that did not finish, or whose pytest failed, is never shown as a pass
        unfinished=[{"name": s.name, "reasons": s.status.reasons} for s in results.sources
                    if s.status is not None and not s.status.complete],
        run_failed=[{"name": s.name, "reasons": s.status.reasons} for s in results.sources
                    if s.status is not None and s.status.complete and s.status.reasons],
        failing_verdicts=FAILING,
        summary=summary(results),
        failing_records=len(failing),
        failures=detailed,
        failure_groups=len(groups),
        more_failures=max(0, len(groups) - MAX_DETAILED),
        max_heatmap_tensors=MAX_HEATMAP_TENSORS, detail_max_entries=f"{DETAIL_MAX_ENTRIES:,}",
        histograms=_histograms(results),
        passing=sum(c.verdict == "pass" for c in results.cases),
        envcmp=environments.compare(results),
        mutants=_mutants(results),
        sampled=_sampled(results),
        rows=rows,
        rows_total=total,
        multi_env=len(results.envs) > 1,
        multi_sut=len({c.sut for c in results.cases}) > 1,
        legend=figures.LEGEND,
        generated=generated,
        unknown_kinds=sorted(results.unknown_kinds.items()),
    )


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
    return env


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
    """A failing case, and how often the same case failed in the same environment with the same SUT
    (Hypothesis replays its final failing example, so many appear twice)."""

    case: Case
    count: int = 1
    tests: set = field(default_factory=set)

    @property
    def ident(self) -> tuple:
        return (self.case.env, self.case.sut, self.case.key)


def _failure_groups(results: Results) -> list[FailureGroup]:
    groups: dict[tuple, FailureGroup] = {}
    for c in sorted((c for c in results.cases if c.failing), key=Case.severity):
        key = (c.env, c.sut, c.key)
        if key in groups:
            groups[key].count += 1
            groups[key].tests.add(c.test)
        else:
            groups[key] = FailureGroup(c, 1, {c.test})
    return list(groups.values())


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
        "worst_value": c.get("worst_value"), "worst_reference": c.get("worst_reference"),
        "worst_allowed": c.get("worst_allowed"),
    }


def _abs_diff(a, b) -> float:
    return abs(number(a) - number(b))


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


def _failure(results: Results, group: FailureGroup, n: int) -> dict:
    c = group.case
    record = results.record(c)
    comparisons = dicts(record.get("comparisons"))
    pairs = dicts(record.get("oracle_pairs"))
    oracles = sorted({compact(x.get("against")) for x in comparisons})
    by = {(compact(x.get("against")), compact(x.get("tensor"))): x for x in comparisons}
    tensors = sorted({t for _, t in by}, key=tensor_order)
    rows = []
    for t in tensors:
        cells = [_cell(by.get((o, t))) for o in oracles]
        rows.append({"tensor": t, "cells": cells, "first": t == c.first_divergence,
                     "diverges": any(cell is not None and not cell["passed"] for cell in cells)})
    heatmaps = []
    drawable = [r["tensor"] for r in rows if r["diverges"]
                and any(isinstance((by.get((o, r["tensor"])) or {}).get("detail"), dict) for o in oracles)]
    for t in drawable[:MAX_HEATMAP_TENSORS]:
        errors = {}
        for o in oracles:
            detail = (by.get((o, t)) or {}).get("detail")
            if isinstance(detail, dict):
                errors[o] = figures.as_array(detail.get("abs_error"))
        lo, hi = figures.colour_range(list(errors.values()))
        panels, drawn = [], {}
        for o, err in errors.items():
            cell = _cell(by[(o, t)])
            worst = tuple(cell["worst_index"]) if len(cell["worst_index"]) == 2 else None
            key = (err.shape, err.tobytes(), worst)  # the oracles often agree to every digit kept
            if key not in drawn:
                drawn[key] = figures.heatmap(err, worst, lo, hi)
            panels.append({"oracle": o, "cell": cell, "shape": "×".join(str(s) for s in err.shape),
                           "error": _abs_diff(cell["worst_value"], cell["worst_reference"]), "svg": drawn[key]})
        heatmaps.append({"tensor": t, "lo": lo, "hi": hi, "panels": panels, "axes": _axes(t)})
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
    return {
        "n": n, "anchor": f"failure-{n}", "c": c, "count": group.count, "tests": sorted(group.tests),
        "case_json": json.dumps(c.case, indent=2, sort_keys=True), "layers": _layers(c.case, c.layer),
        "oracles": oracles, "rows": rows, "heatmaps": heatmaps, "pairs": [pair_rows[k] for k in sorted(pair_rows)],
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
    failing = sorted((c for c in results.cases if c.failing), key=Case.severity)
    others = sorted((c for c in results.cases if not c.failing),
                    key=lambda c: (c.env, c.key, c.test, c.source, c.offset))
    chosen = (failing + others)[:MAX_TABLE_ROWS]
    rows = []
    for c in chosen:
        margin = c.pair_margin if c.verdict == "oracle_disagreement" else c.margin
        rows.append({
            "env": c.env, "sut": c.sut, "verdict": c.verdict, "first": c.first_divergence or "",
            "margin": g3(margin) if c.margins or c.verdict == "oracle_disagreement" else "—",
            "margin_v": _sort_value(margin if c.margins or c.verdict == "oracle_disagreement" else -1),
            "fields": [compact(c.case.get(k)) for k in CASE_COLUMNS],
            "seconds": g3(c.seconds), "seconds_v": _sort_value(c.seconds), "test": c.test,
            "anchor": anchors.get((c.env, c.sut, c.key)),
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



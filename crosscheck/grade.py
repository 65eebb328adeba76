"""Grading a class: an assignment file, a bundle of fixed cases with every oracle's answers, and a grader
that needs only NumPy.

    python -m crosscheck grade --prepare --assignment assignment.toml --out bundle/
    python -m crosscheck grade SUBMISSION --assignment assignment.toml [--bundle bundle/] [--out feedback/]
    python -m crosscheck grade SUBMISSIONS_DIR --assignment assignment.toml --out class/

**Prepare** (needs the oracles: torch and finite differences, JAX optional) reads the assignment (TOML),
draws each rubric item's fixed case list from the assignment's seed (plus its pinned cases), runs the
oracles on every case, checks that they agree among themselves, and writes the bundle: the assignment,
each case's JSON (its arrays are rebuilt from its seed, ``crosscheck.ops.build``), every oracle's answer
and the allowance the error model gives a submission against it (``crosscheck.tolerance``), the staff
solution, and Gradescope's autograder zip. The staff solution is then graded on the bundle and must
score full marks.

**Grade** reads the bundle and never imports torch or JAX. Each submission is loaded in its own child
process (``crosscheck.boundary``) with a time limit per case and per submission and a memory limit,
started without a network and as an unprivileged user where the platform allows (the output says which
protections applied); the grader's process never imports student code. An item's score is its points
times the fraction of its fixed cases that pass.

**Dependencies.** An item names the items it depends on (``linear_activation_backward`` on
``linear_backward``). When a dependency lost points, the dependent item is graded with the staff
solution's function in place of each of the student's functions that failed there, so one mistake
costs once. The staff function runs in the grader's process: the student's module, in its child,
gets a stand-in (``boundary.StandIn``) that sends the arguments back over the boundary and returns the
staff function's answer; the child never holds the staff code, the bundle or another case.

**Outputs** per submission: Gradescope's ``results.json`` (rewritten atomically after each item, so a
grader killed by Gradescope's own time limit leaves valid partial results), JUnit XML, a JSON summary
and ``feedback.md``; for a class, ``class.json`` and a self-contained HTML class report
(``reports/templates/grades.html.j2``). Feedback respects each item's visibility: a hidden item says its
score and how many cases passed, never a case, a tensor, a diagnosis or what the student's code printed.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from xml.etree import ElementTree as ET

import numpy as np

from crosscheck import boundary, check, conventions, ops, tolerance
from crosscheck.compare import compare
from oracles import ORACLES

BUNDLE_FORMAT = 1
BUNDLE_FILE = "bundle.json"
VISIBILITY = ("visible", "after_due_date", "after_published", "hidden")
"""Gradescope's visibility values: ``hidden`` items show nothing but their score to the student."""
DEFAULTS = {"case_timeout": 10.0, "submission_timeout": 300.0, "memory_mb": 2048.0, "count": 8, "scales": ["unit"],
            "dtypes": ["float64", "float32"], "visibility": "visible", "oracles": ["torch", "fd"]}
"""What an assignment file may leave out."""
CODE_SUFFIX = ".py"
NOTEBOOK_SUFFIX = ".ipynb"


class AssignmentError(ValueError):
    """The assignment file, the bundle or a grading argument is not valid (the message says what)."""


# ---------------------------------------------------------------------------------------------
# the assignment file


@dataclass(frozen=True)
class Item:
    """One rubric item: an op of the assignment's convention, graded on a fixed list of cases."""

    name: str
    points: float
    op: str | None
    """The op graded (a row of ``crosscheck.ops``), or None for a whole-network item (``network``)."""
    functions: tuple[str, ...]
    """The student's functions this item grades (by default the op's forward and backward)."""
    count: int
    """Cases drawn from the assignment's seed (the pinned cases come on top)."""
    dtypes: tuple[str, ...]
    scales: tuple[str, ...]
    dims: dict
    """{dim: (lo, hi)} narrowing the op's own ranges."""
    pinned: tuple[dict, ...]
    """Cases given in the file: {dims, dtype?, scale?, seed?, settings?}."""
    depends_on: tuple[str, ...]
    visibility: str
    case_timeout: float
    tags: tuple[str, ...] = ()
    network: str | None = None
    """A whole-network item: the convention its cases run through (``NETWORKS``; ``ng``: L_model_forward,
    L_model_backward and compute_cost; ``cs231n``, ``nielsen``: a class, named by ``functions``) on contract
    cases (``crosscheck.problems``)."""

    @property
    def convention(self) -> str | None:
        return self.network

    @property
    def network_class(self) -> str | None:
        """The class a class convention's item grades (its one function); None for a module's functions."""
        return self.functions[0] if self.network and conventions.get(self.network).target == "class" else None

    def spec(self, file: str) -> str:
        """How ``--sut`` names what the item grades in ``file``: the file, or ``file:Class``."""
        return f"{file}:{self.network_class}" if self.network_class else file


@dataclass(frozen=True)
class Assignment:
    name: str
    convention: str
    """The op convention (``ng-steps`` or ``cs231n-layers``; ``ng`` and ``cs231n`` name them too)."""
    seed: int
    staff: Path
    items: tuple[Item, ...]
    case_timeout: float
    submission_timeout: float
    memory_mb: float
    oracles: tuple[str, ...]
    module: str | None
    """The file a folder submission is read from (e.g. ``dnn_steps.py``); None: its only .py or notebook."""
    path: Path
    sha256: str

    def item(self, name: str) -> Item:
        return next(i for i in self.items if i.name == name)


def _toml(path: Path) -> dict:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    try:
        return tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise AssignmentError(f"assignment file {str(path)!r} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise AssignmentError(f"assignment file {str(path)!r} is not valid TOML: {exc}") from None


def _number(where: str, value, positive: bool = True) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or (
            positive and value <= 0):
        raise AssignmentError(f"{where} must be a {'positive ' if positive else ''}number, got {value!r}")
    return float(value)


def _names(where: str, value, allowed) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, list) or not value:
        raise AssignmentError(f"{where} must be a non-empty list, got {value!r}")
    bad = [v for v in value if v not in allowed]
    if bad:
        raise AssignmentError(f"{where} has {bad[0]!r}; valid: {', '.join(map(str, allowed))}")
    return tuple(value)


NETWORKS = {
    "ng": {"functions": ("L_model_forward", "L_model_backward", "compute_cost"),
           "dims": {"L": (1, 4), "width": (1, 8), "batch": (1, 16), "outputs": (1, 4)},
           "hidden": "relu", "output": "sigmoid", "loss": "bce", "layout": "columns"},
    "cs231n": {"functions": ("FullyConnectedNet",),
               "dims": {"L": (1, 4), "width": (1, 8), "batch": (1, 16), "outputs": (2, 6)},
               "hidden": "relu", "output": "identity", "loss": "softmax_cross_entropy", "layout": "rows"},
    "nielsen": {"functions": ("Network",),
                "dims": {"L": (1, 4), "width": (1, 8), "batch": (1, 16), "outputs": (1, 4)},
                "hidden": "sigmoid", "output": "sigmoid", "loss": "half_sse", "layout": "columns"},
}
"""Whole-network items: the conventions they run through, the functions graded (a class convention's one
class, ``functions = ["TwoLayerNet"]`` to name another), the ranges of their dims (L layers, hidden widths, the
batch, the output width) and the case each convention states (``crosscheck.conventions``: activations, loss,
layout; the mean over examples). ``prepare`` checks every case lies inside what the staff class supports."""
ITEM_KEYS = ("name", "points", "op", "network", "functions", "count", "dtypes", "scales", "dims", "pinned",
             "depends_on", "visibility", "case_timeout", "tags")
ASSIGNMENT_KEYS = ("name", "convention", "seed", "staff", "case_timeout", "submission_timeout", "memory_mb",
                   "oracles", "module")


def load_assignment(path) -> Assignment:
    """The assignment file, validated: AssignmentError names the first thing wrong with it."""
    from crosscheck import contract
    from crosscheck.problems import SCALES
    from oracles import ORACLES

    path = Path(path)
    data = _toml(path)
    unknown = sorted(set(data) - {"assignment", "item"})
    if unknown:
        raise AssignmentError(f"{path}: unknown table {unknown[0]!r}; the file has [assignment] and [[item]]s")
    head = data.get("assignment")
    if not isinstance(head, dict):
        raise AssignmentError(f"{path}: needs an [assignment] table (name, convention, seed, staff, ...)")
    unknown = sorted(set(head) - set(ASSIGNMENT_KEYS))
    if unknown:
        raise AssignmentError(f"[assignment] has unknown key {unknown[0]!r}; valid: {', '.join(ASSIGNMENT_KEYS)}")
    for key in ("name", "convention", "seed", "staff"):
        if key not in head:
            raise AssignmentError(f"[assignment] needs {key!r}")
    try:
        convention = conventions.for_layers(head["convention"])
    except conventions.ConventionError as exc:
        raise AssignmentError(f"[assignment] convention: {exc}") from None
    seed = head["seed"]
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise AssignmentError(f"[assignment] seed must be a non-negative integer, got {seed!r}")
    staff = (path.parent / head["staff"]).resolve()
    if not staff.is_file():
        raise AssignmentError(f"[assignment] staff: {str(staff)!r} does not exist")
    case_timeout = _number("[assignment] case_timeout", head.get("case_timeout", DEFAULTS["case_timeout"]))
    items, seen = [], set()
    raw_items = data.get("item")
    if not isinstance(raw_items, list) or not raw_items:
        raise AssignmentError(f"{path}: needs at least one [[item]]")
    base = convention.split("-")[0]
    for i, raw in enumerate(raw_items):
        where = f"[[item]] {raw.get('name', i + 1)!r}"
        unknown = sorted(set(raw) - set(ITEM_KEYS))
        if unknown:
            raise AssignmentError(f"{where} has unknown key {unknown[0]!r}; valid: {', '.join(ITEM_KEYS)}")
        for key in ("name", "points"):
            if key not in raw:
                raise AssignmentError(f"{where} needs {key!r}")
        if ("op" in raw) == ("network" in raw):
            raise AssignmentError(f"{where} needs an op (a layer function) or network (a whole network), one of them")
        name = raw["name"]
        if not isinstance(name, str) or not name or name in seen:
            raise AssignmentError(f"{where}: names must be non-empty and unique")
        seen.add(name)
        if "network" in raw:
            if raw["network"] not in NETWORKS:
                raise AssignmentError(f"{where}: network {raw['network']!r}: a whole-network item runs through one "
                                      f"of the conventions {', '.join(NETWORKS)}")
            net = raw["network"]
            op, ranges = None, NETWORKS[net]["dims"]
            functions = tuple(raw.get("functions") or NETWORKS[net]["functions"])
            if conventions.get(net).target == "class" and (
                    len(functions) != 1 or not isinstance(functions[0], str) or not functions[0].isidentifier()):
                raise AssignmentError(f"{where}: a {net} network is a class: functions names it alone "
                                      f"(e.g. {list(NETWORKS[net]['functions'])}), got {list(functions)!r}")
        else:
            if raw["op"] not in ops.of(base):
                raise AssignmentError(f"{where}: op {raw['op']!r} is not a {base} op; valid: {', '.join(ops.of(base))}")
            op = ops.get(raw["op"])
            ranges = op.dims
            functions = tuple(raw.get("functions") or [f for f in (op.forward_fn, op.backward_fn) if f])
        what = f"op {op.name}" if op else f"a {raw['network']} network"
        dims = raw.get("dims", {})
        if not isinstance(dims, dict):
            raise AssignmentError(f"{where} dims must be a table {{dim = [lo, hi]}}, got {dims!r}")
        narrowed = {}
        for dim, span in dims.items():
            if dim not in ranges:
                raise AssignmentError(f"{where} dims: {what} has no dim {dim!r}; its dims: {', '.join(ranges)}")
            lo, hi = ranges[dim]
            if not (isinstance(span, list) and len(span) == 2 and all(isinstance(v, int) for v in span)
                    and lo <= span[0] <= span[1] <= hi):
                raise AssignmentError(f"{where} dims.{dim} must be [lo, hi] within [{lo}, {hi}], got {span!r}")
            narrowed[dim] = tuple(span)
        pinned = raw.get("pinned", [])
        if not isinstance(pinned, list) or not all(isinstance(p, dict) and isinstance(p.get("dims"), dict)
                                                   for p in pinned):
            raise AssignmentError(f"{where} pinned must be a list of tables with dims, got {pinned!r}")
        count = raw.get("count", DEFAULTS["count"])
        if isinstance(count, bool) or not isinstance(count, int) or count < 0 or count + len(pinned) == 0:
            raise AssignmentError(f"{where} count must be a non-negative integer (with pinned cases, at least one "
                                  f"case in all), got {count!r}")
        visibility = raw.get("visibility", DEFAULTS["visibility"])
        if visibility not in VISIBILITY:
            raise AssignmentError(f"{where} visibility {visibility!r}; valid: {', '.join(VISIBILITY)}")
        depends = raw.get("depends_on", [])
        if isinstance(depends, str) or not isinstance(depends, list):
            raise AssignmentError(f"{where} depends_on must be a list of item names, got {depends!r}")
        for dep in depends:
            if dep not in seen or dep == name:
                raise AssignmentError(f"{where} depends on {dep!r}, which is not an item before it")
        if pinned and op is None:
            raise AssignmentError(f"{where}: a whole-network item takes no pinned cases")
        items.append(Item(
            name, _number(f"{where} points", raw["points"]), op.name if op else None, functions, count,
            _names(f"{where} dtypes", raw.get("dtypes", DEFAULTS["dtypes"]), contract.DTYPES),
            _names(f"{where} scales", raw.get("scales", DEFAULTS["scales"]), tuple(SCALES)),
            narrowed, tuple(pinned), tuple(depends), visibility,
            _number(f"{where} case_timeout", raw.get("case_timeout", case_timeout)),
            tuple(str(t) for t in raw.get("tags", [])), raw.get("network")))
    return Assignment(
        str(head["name"]), convention, seed, staff, tuple(items), case_timeout,
        _number("[assignment] submission_timeout", head.get("submission_timeout", DEFAULTS["submission_timeout"])),
        _number("[assignment] memory_mb", head.get("memory_mb", DEFAULTS["memory_mb"])),
        _names("[assignment] oracles", head.get("oracles", DEFAULTS["oracles"]), tuple(ORACLES)),
        head.get("module"), path.resolve(), hashlib.sha256(path.read_bytes()).hexdigest())


# ---------------------------------------------------------------------------------------------
# the fixed cases


def item_cases(assignment: Assignment, item: Item) -> list[dict]:
    """The item's fixed cases: its pinned ones, then ``count`` drawn from the assignment's seed and the item's
    name (so adding an item does not change another's cases). Each case is checked to build."""
    rng = np.random.default_rng([assignment.seed, zlib.crc32(item.name.encode())])
    if item.network:
        return [_network_case(item, rng, i) for i in range(item.count)]
    op = ops.get(item.op)
    out = []
    for i, pin in enumerate(item.pinned):
        case = ops.case_of(item.op, pin["dims"], pin.get("dtype", item.dtypes[0]), pin.get("scale", item.scales[0]),
                           pin.get("seed", i), pin.get("settings"))
        try:
            ops.build(case)
        except (ValueError, ops.contract.ContractError) as exc:
            raise AssignmentError(f"[[item]] {item.name!r} pinned case {i + 1}: {exc}") from None
        out.append(case)
    for i in range(item.count):
        ranges = {**op.dims, **item.dims}
        dims = {d: int(rng.integers(lo, hi + 1)) for d, (lo, hi) in ranges.items()}
        settings = {k: v[int(rng.integers(len(v)))] for k, v in op.settings.items() if not isinstance(v, range)}
        settings.update({k: int(rng.integers(v.start, v.stop)) for k, v in op.settings.items() if isinstance(v, range)})
        case = ops.case_of(item.op, dims, item.dtypes[i % len(item.dtypes)], item.scales[i % len(item.scales)],
                           int(rng.integers(2**32)), settings or None)
        ops.build(case)  # an ill-posed draw raises IllPosedCase: practically never (continuous draws)
        out.append(case)
    return out


def _network_case(item: Item, rng, i: int) -> dict:
    """A contract case of the network convention: sizes, batch and seed drawn; the rest what the convention states
    (``NETWORKS``; ng: hidden relu, output sigmoid, bce, columns; cs231n: hidden relu, identity scores,
    softmax_cross_entropy, rows; nielsen: sigmoid, half_sse, columns; the mean for all)."""
    from crosscheck import contract, problems

    net = NETWORKS[item.network]
    r = {**net["dims"], **item.dims}
    draw = lambda name: int(rng.integers(r[name][0], r[name][1] + 1))  # noqa: E731
    L = draw("L")
    sizes = [draw("width") for _ in range(L)] + [draw("outputs")]
    case = {"contract_version": contract.CONTRACT_VERSION, "sizes": sizes,
            "activations": [net["hidden"]] * (L - 1) + [net["output"]], "loss": net["loss"], "layout": net["layout"],
            "dtype": item.dtypes[i % len(item.dtypes)], "reduction": "mean", "batch": draw("batch"),
            "scale": item.scales[i % len(item.scales)], "seed": int(rng.integers(2**32))}
    problems.build(case)
    return case


def build(case: dict):
    """A case's arrays: an op case (``ops.build``) or a network case (``problems.build``)."""
    from crosscheck import problems

    return ops.build(case) if ops.is_op(case) else problems.build(case)


def order(case: dict) -> list[str]:
    """A case's outputs in the order the first divergence is judged (forward's first)."""
    from crosscheck import contract

    return ops.get(case["op"]).order if ops.is_op(case) else ["loss", *contract.backward_order(case)]


# ---------------------------------------------------------------------------------------------
# prepare: the bundle


def _lists(answer: dict) -> dict:
    return {k: float(v) if k == "loss" else np.asarray(v, np.float64).tolist() for k, v in answer.items()}


def prepare(assignment: Assignment, out: Path, progress=print) -> Path:
    """Write the bundle for ``assignment`` into ``out`` (see the module docstring) and return its path."""
    from crosscheck import contract
    from crosscheck.check import run_oracles
    from oracles import ORACLES

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    items = []
    for item in assignment.items:
        cases = []
        returns = _returns(assignment, item)
        for case in item_cases(assignment, item):
            problem = build(case)
            answers, status = run_oracles(problem, list(assignment.oracles))
            # an oracle that does not check ops (JAX: a compile per shape) answers the network items only
            missing = [f"{n}: {s['reason']}" for n, s in status.items()
                       if not s["ran"] and not (ops.is_op(case) and ORACLES[n].ops is None and not s.get("error"))]
            if missing or not answers:
                raise AssignmentError(f"item {item.name!r}: oracle(s) did not run ({'; '.join(missing)}); install "
                                      f"them or name fewer in [assignment] oracles")
            outside = None if ops.is_op(case) else contract.outside(case, returns)
            if outside:
                raise AssignmentError(f"item {item.name!r}: a case lies outside what the staff "
                                      f"{item.spec(assignment.staff.name)} supports ({outside}): narrow its dims")
            not_checked = [] if ops.is_op(case) else contract.not_returned(case, returns)
            keys = [k for k in order(case) if k not in not_checked]
            S = problem.bounds() if ops.is_op(case) else tolerance.bounds({**case, "layout": "rows"},
                                                                          *problem.rows64()).S
            names = list(answers)
            for a_i, na in enumerate(names):  # the oracles among themselves: a disagreement is a fault of the bundle
                for nb in names[a_i + 1:]:
                    for key in keys:
                        allowed = tolerance.allowed(S[key], "float64", "float64", ORACLES[na].underflow_gain,
                                                    ORACLES[nb].underflow_gain)
                        c = compare(key, f"{na}~{nb}", np.asarray(answers[na][key]), np.asarray(answers[nb][key],
                                    np.float64), allowed)
                        if not c.passed:
                            raise AssignmentError(f"item {item.name!r}: oracles {na} and {nb} disagree on {key} of "
                                                  f"case {json.dumps(case)} (margin {c.margin:.3g})")
            allowed = {n: {k: np.broadcast_to(tolerance.allowed(S[k], case["dtype"], "float64", 1.0,
                                                                 ORACLES[n].underflow_gain),
                                              np.shape(answers[n][k])).tolist() for k in keys} for n in names}
            cases.append({"case": case, "answers": {n: _lists({k: answers[n][k] for k in keys}) for n in names},
                          "allowed": allowed, "not_checked": not_checked})
        progress(f"prepare: {item.name}: {len(cases)} cases, oracles {', '.join(cases[0]['answers'])}")
        items.append({"name": item.name, "cases": cases})
    staff_dir = out / "staff"
    staff_dir.mkdir(exist_ok=True)
    shutil.copy(assignment.staff, staff_dir / assignment.staff.name)
    (out / "assignment.toml").write_text(_staff_pointing(assignment))
    bundle = {"format": BUNDLE_FORMAT, "assignment": assignment.name, "assignment_sha256": assignment.sha256,
              "seed": assignment.seed, "oracles": list(assignment.oracles), "versions": _versions(),
              "items": items}
    target = out / BUNDLE_FILE
    _atomic_write(target, json.dumps(bundle))
    seal(out)
    staff = grade(load_bundle(out / "assignment.toml", out), assignment.staff, None)
    if staff.score != staff.max_score:
        wrong = [t for t in staff.items if t.score != t.max_score]
        raise AssignmentError(f"the staff solution scores {staff.score:g} / {staff.max_score:g} on the bundle; "
                              f"first wrong item {wrong[0].name!r}: {wrong[0].message}")
    progress(f"prepare: the staff solution scores {staff.score:g} / {staff.max_score:g}")
    write_autograder(out)
    return out


def seal(bundle_dir: Path) -> None:
    """Make the bundle's answers and staff solution readable by their owner only, so that a submission run as
    an unprivileged user cannot read them (an unzipped autograder loses the modes the bundle was written with)."""
    bundle_dir = Path(bundle_dir)
    staff = bundle_dir / "staff"
    for path in [bundle_dir / BUNDLE_FILE, *(staff.rglob("*") if staff.is_dir() else ()), staff]:
        if path.exists():
            os.chmod(path, 0o700 if path.is_dir() else 0o600)


def _returns(assignment: Assignment, item: Item) -> dict | None:
    """What a whole-network item's convention states its code returns (``supports``), read from the staff
    solution through the convention's adapter; None for an op item."""
    if not item.network:
        return None
    from crosscheck import sut

    try:
        return sut.load_here(item.spec(str(assignment.staff)), item.network).supports
    except sut.SutLoadError as exc:
        raise AssignmentError(f"item {item.name!r}: the staff solution does not load as convention "
                              f"{item.network}: {exc}") from None


def _staff_pointing(assignment: Assignment) -> str:
    """The assignment file as the bundle keeps it: its staff key pointing at the bundle's own copy."""
    import re

    text = assignment.path.read_text()
    new, n = re.subn(r'(?m)^(\s*staff\s*=\s*)(["\']).*?\2', lambda m: f'{m.group(1)}"staff/{assignment.staff.name}"',
                     text, count=1)
    if n != 1:
        raise AssignmentError("[assignment] staff must be written as staff = \"path\" on one line")
    return new


def _versions() -> dict:
    from importlib import metadata

    out = {"python": sys.version.split()[0]}
    for dist in ("numpy", "torch", "jax"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    return out


def _atomic_write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that a reader sees the old file or the new one, never half of one."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


AUTOGRADER_PACKAGES = ("crosscheck", "oracles", "mutants", "examples/__init__.py", "examples/layers")
"""What the Gradescope zip carries of this project (grading imports no more; mutants name known bugs)."""
REQUIREMENTS = ("numpy>=1.26", "scipy>=1.11", "hypothesis>=6.100", "pytest>=8.0", "tomli>=1.1; python_version < '3.11'")

SETUP_SH = """#!/usr/bin/env bash
# Gradescope runs this once to build the autograder image: NumPy and SciPy only, no torch or JAX.
set -euo pipefail
apt-get install -y python3 python3-pip >/dev/null 2>&1 || true
pip3 install -r /autograder/source/requirements.txt
"""
RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope runs this per submission; results.json is rewritten after each item.
set -uo pipefail
cd /autograder/source
python3 -m crosscheck grade /autograder/submission --assignment bundle/assignment.toml --bundle bundle \\
    --gradescope /autograder/results/results.json
"""


def write_autograder(bundle_dir: Path) -> Path:
    """``autograder.zip`` in the bundle: setup.sh, run_autograder, requirements.txt, the bundle and the code."""
    bundle_dir = Path(bundle_dir)
    root = Path(__file__).resolve().parent.parent
    target = bundle_dir / "autograder.zip"
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as z:
        for name, text in (("setup.sh", SETUP_SH), ("run_autograder", RUN_AUTOGRADER),
                           ("requirements.txt", "\n".join(REQUIREMENTS) + "\n")):
            info = zipfile.ZipInfo(name)
            info.external_attr = 0o755 << 16
            z.writestr(info, text)
        for part in AUTOGRADER_PACKAGES:
            path = root / part
            files = [path] if path.is_file() else sorted(p for p in path.rglob("*.py"))
            for f in files:
                z.write(f, f.relative_to(root).as_posix())
        for f in sorted(bundle_dir.rglob("*")):
            if f.is_file() and f.name != target.name:
                z.write(f, ("bundle" / f.relative_to(bundle_dir)).as_posix())
    return target


# ---------------------------------------------------------------------------------------------
# the bundle, read by the grader


@dataclass
class Bundle:
    assignment: Assignment
    cases: dict[str, list[dict]]
    """item name -> its cases: {case, answers: {oracle: {output: list}}, allowed: {oracle: {output: list}}}."""
    path: Path
    staff: dict = field(default_factory=dict)
    """The staff solution's functions, by name: what a stand-in calls (loaded in this process on first use)."""

    def references(self) -> dict:
        if not self.staff:
            import importlib.util

            spec = importlib.util.spec_from_file_location("_crosscheck_staff_solution", self.assignment.staff)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            names = {f for item in self.assignment.items for f in item.functions}
            self.staff = {n: getattr(module, n) for n in names  # a class does not stand in: its calls are not data
                          if callable(getattr(module, n, None)) and not isinstance(getattr(module, n), type)}
        return self.staff


def load_bundle(assignment_path, bundle_dir=None) -> Bundle:
    """The bundle for an assignment file (default: ``bundle/`` beside it); AssignmentError if it is missing
    or was prepared from another version of the file."""
    assignment = load_assignment(assignment_path)
    bundle_dir = Path(bundle_dir) if bundle_dir else assignment.path.parent / "bundle"
    path = bundle_dir / BUNDLE_FILE
    if not path.is_file():
        raise AssignmentError(f"no bundle at {str(bundle_dir)!r}: run python -m crosscheck grade --prepare "
                              f"--assignment {assignment.path} --out {bundle_dir} first")
    data = json.loads(path.read_text())
    if data.get("format") != BUNDLE_FORMAT:
        raise AssignmentError(f"{path}: bundle format {data.get('format')!r}, this grader reads {BUNDLE_FORMAT}")
    kept = load_assignment(bundle_dir / "assignment.toml") if (bundle_dir / "assignment.toml").is_file() else None
    if kept is None or _same(kept, assignment) is False:
        raise AssignmentError(f"{assignment.path} differs from the assignment the bundle {str(bundle_dir)!r} was "
                              f"prepared from: run grade --prepare again")
    cases = {i["name"]: i["cases"] for i in data["items"]}
    try:
        seal(bundle_dir)
    except OSError:
        pass  # a read-only bundle (another user's): the protections say whether the submission runs as another user
    return Bundle(kept, cases, bundle_dir)


def _same(a: Assignment, b: Assignment) -> bool:
    """The same assignment, wherever its staff solution lives."""
    keep = lambda x: {k: v for k, v in asdict(x).items() if k not in ("staff", "path", "sha256")}  # noqa: E731
    return keep(a) == keep(b)


# ---------------------------------------------------------------------------------------------
# judging one case against the bundle's answers


def judge(entry: dict, outcome: boundary.Outcome, spec: str, convention: str) -> check.CaseResult:
    """``check.check``'s verdict with the bundle's stored answers and allowances in place of live oracles: the
    answer held to the contract (an op's outputs, or a network's keys, shapes and dtypes), both calls alike,
    every output within its allowance against every oracle, the first divergence in ``order``."""
    from crosscheck import contract

    case = entry["case"]
    is_op = ops.is_op(case)
    problem = build(case)
    keys = order(case)
    result = check.CaseResult(case=case, sut=spec, verdict="pass", convention=convention)
    result.sut_seconds, result.extra_keys, result.output = outcome.seconds, outcome.extra_keys, outcome.output
    result.oracles = {n: {"ran": True, "reason": "stored in the bundle", "seconds": 0.0} for n in entry["answers"]}
    result.not_checked = list(entry.get("not_checked", ()))
    if outcome.kind != "answered":
        result.verdict = {"timeout": "timeout", "crashed": "crashed"}.get(outcome.kind, "fail")
        result.problems = [outcome.message]
        result.first_divergence = "answer" if result.verdict == "fail" else None
        return result
    first, raw = outcome.first, outcome.second

    def answer_problems(answer):
        if not is_op:
            return list(contract.check_answer(case, answer, case["batch"], skip=tuple(result.not_checked)))
        # a value that is not plain data comes back as a stand-in naming its type
        named = lambda k, p: p.replace("a _Opaque", f"a {getattr(answer.get(k), 'type_name', '')}")  # noqa: E731
        return [(k, named(k, p) if isinstance(answer, dict) else p) for k, p in ops.check_answer(problem, answer)]

    problems = check.both_answers(answer_problems, first, raw)
    result.problems = [p for _, p in problems]
    broken = {k for k, _ in problems}
    usable = {k: v for k, v in raw.items() if k not in broken} if isinstance(raw, dict) else {}
    if not is_op:  # the stored answers are in the rows layout
        rows = contract.to_rows(case, {k: v for k, v in usable.items() if k != "loss" and k in keys})
        usable = {**rows, **({"loss": usable["loss"]} if "loss" in usable else {})}
    for name, answer in entry["answers"].items():
        for key in keys:
            if key not in usable or key not in answer:
                continue
            value = np.asarray(float(usable[key])) if key == "loss" else np.asarray(usable[key])
            result.comparisons.append(compare(key, name, value, np.asarray(answer[key], np.float64),
                                              np.asarray(entry["allowed"][name][key], np.float64),
                                              None if key == "loss" else case["dtype"]))
    check.judge(result, entry["answers"], problems, ["answer", *keys],
                lambda first: contract.layer_of(first) if not is_op and first not in (None, "answer", "loss") else None)
    if result.verdict == "fail":
        key = result.first_divergence
        disagree = [c.against for c in result.comparisons if c.tensor == key and not c.passed]
        # the tensor kept is an oracle's that needs no framework where one disagrees: whatever re-runs the case
        # from the record (crosscheck.diagnose rebuilds it with the oracle it kept) stays NumPy-only
        against = min(disagree, key=lambda n: ORACLES[n].requires is not None) if disagree else None
        if against is not None:
            result.tensors = {"tensor": key, "oracle": against,
                              "sut": np.asarray(usable[key], np.float64).tolist(),
                              "reference": entry["answers"][against][key]}
    return result


# ---------------------------------------------------------------------------------------------
# isolation


_PROTECTIONS: tuple | None = None
_PROTECTIONS_LOCK = threading.Lock()


def _works(command: list[str]) -> bool:
    """Can a submission's process start under ``command`` and import what the boundary's child imports?"""
    here = str(Path(__file__).resolve().parent.parent)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([here, *(p for p in sys.path if p and os.path.isdir(p))])}
    try:
        return subprocess.run([*command, sys.executable, "-c", "import numpy, crosscheck.sut"], capture_output=True,
                              timeout=60, env=env, cwd="/").returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def protections() -> tuple[tuple[str, ...], list[str]]:
    """(the command a submission's process is started under, what applies and what does not, in words);
    probed once per process: each protection is used only where it works here."""
    global _PROTECTIONS
    with _PROTECTIONS_LOCK:
        if _PROTECTIONS is not None:
            return _PROTECTIONS
        wrapper, words = [], ["its own process, started afresh (the grader never imports student code)"]
        root = hasattr(os, "geteuid") and os.geteuid() == 0
        net = ["unshare", "--net"] if root else ["unshare", "--net", "--map-root-user"]
        if shutil.which("unshare") and _works(net):
            wrapper += net
            words.append("no network (a network namespace of its own: " + " ".join(net) + ")")
        else:
            words.append("network NOT blocked (unshare --net is not available here)")
        if root:
            drops = [["setpriv", "--reuid=nobody", f"--regid={g}", "--clear-groups"] for g in ("nogroup", "nobody")]
            drop = next((d for d in drops if shutil.which("setpriv") and _works(wrapper + d)), None)
            if drop:
                wrapper += drop
                words.append("an unprivileged user (nobody), who cannot read the bundle or the staff solution")
            else:
                words.append("runs as root: no unprivileged user could be used (setpriv nobody failed)")
        else:
            words.append(f"runs as the grader's own user (uid {os.getuid()}), not root" if hasattr(os, "getuid")
                         else "runs as the grader's own user")
        _PROTECTIONS = (tuple(wrapper), words)
        return _PROTECTIONS


# ---------------------------------------------------------------------------------------------
# a submission


class SubmissionError(Exception):
    """A submission that cannot be graded at all (nothing to load): every item scores 0 with this message."""


def notebook_code(path: Path) -> str:
    """The code cells of a Jupyter notebook (nbformat 4, read as JSON), without IPython magics and shell lines."""
    try:
        nb = json.loads(Path(path).read_text())
        cells = nb["cells"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SubmissionError(f"{Path(path).name} is not a readable Jupyter notebook ({type(exc).__name__}: {exc})"
                              ) from None
    out = []
    for cell in cells:
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else str(source)
        if source.lstrip().startswith("%%"):
            continue  # a cell magic (%%time, %%bash): not Python
        lines = [line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))]
        out.append("\n".join(lines))
    return "\n\n".join(out) + "\n"


def _readable(path: Path) -> None:
    """Let an unprivileged user read (not write) a staged copy."""
    for p in [path, *path.rglob("*")]:
        os.chmod(p, 0o755 if p.is_dir() else 0o644)


def stage(submission: Path, module: str | None, into: Path) -> Path:
    """A copy of the submission in ``into`` that the submission's process may read, and the .py file to load."""
    submission = Path(submission)
    if submission.is_dir():
        shutil.copytree(submission, into / submission.name, symlinks=False,
                        ignore=shutil.ignore_patterns("__pycache__", ".*"))
        root = into / submission.name
        found = sorted(root.rglob(module)) if module else []
        code = sorted(root.rglob(f"*{CODE_SUFFIX}"))
        books = sorted(p for p in root.rglob(f"*{NOTEBOOK_SUFFIX}") if ".ipynb_checkpoints" not in p.parts)
        if found:
            target = found[0]
        elif len(code) == 1:  # a folder of one file (Gradescope's upload of alice.py) is that file
            target = code[0]
        elif not code and len(books) == 1:
            target = books[0]
        else:
            named = f"no {module} (the file the assignment grades) and " if module else ""
            raise SubmissionError(f"the folder has {named}{len(code)} .py files and {len(books)} notebooks: "
                                  f"which one to grade is not clear")
    elif submission.suffix in (CODE_SUFFIX, NOTEBOOK_SUFFIX) and submission.is_file():
        (into / "submission").mkdir()
        target = into / "submission" / submission.name
        shutil.copy(submission, target)
    else:
        raise SubmissionError(f"{submission.name}: a submission is a .py file, a .ipynb notebook or a folder")
    if target.suffix == NOTEBOOK_SUFFIX:
        code = target.with_suffix(CODE_SUFFIX)
        if code.exists():
            raise SubmissionError(f"{target.name} and {code.name} both exist: rename one")
        code.write_text(notebook_code(target))
        target = code
    _readable(into)
    return target


@dataclass
class ItemGrade:
    name: str
    score: float
    max_score: float
    visibility: str
    passed: int = 0
    total: int = 0
    status: str = "graded"
    """graded, or not run: the submission did not load, or its time ran out."""
    message: str = ""
    """Why the item lost points, in one line (a load error, a timeout, the first wrong output)."""
    stand_ins: list[str] = field(default_factory=list)
    """The staff functions graded in place of the student's (their own items failed)."""
    verdicts: dict = field(default_factory=dict)
    first_wrong: str | None = None
    """The function's output that went wrong first, most often over the failing cases."""
    diagnosis: str | None = None
    smallest: dict | None = None
    """The smallest failing case's record (``CaseResult.to_json``)."""
    output: str = ""
    """The feedback a student reads (visibility respected)."""
    tags: list[str] = field(default_factory=list)
    seconds: float = 0.0


@dataclass
class Graded:
    student: str
    submission: str
    assignment: str
    score: float = 0.0
    max_score: float = 0.0
    items: list[ItemGrade] = field(default_factory=list)
    load_error: str | None = None
    protections: list[str] = field(default_factory=list)
    seconds: float = 0.0
    time_limit_reached: bool = False
    frameworks_imported: list[str] = field(default_factory=list)
    """torch or jax modules the grading process had imported when this submission finished (always none)."""

    @property
    def timed_out(self) -> bool:
        return self.time_limit_reached or any(i.verdicts.get("timeout") for i in self.items)

    @property
    def crashed(self) -> bool:
        return self.load_error is not None or any(i.verdicts.get("crashed") for i in self.items)


def _functions_failed(item: Item, results: list[check.CaseResult]) -> set[str]:
    """The student's functions of an item that went wrong on some case (all of them where a case did not answer)."""
    op = ops.get(item.op) if item.op else None
    out = set()
    for r in results:
        if r.verdict == "pass":
            continue
        key = r.first_divergence
        if op is not None and r.verdict == "fail" and key in op.order:
            out.add(op.forward_fn if key in op.outputs and op.backward_fn else (op.backward_fn or op.forward_fn))
        else:
            out.update(item.functions)
    return out


def _order(assignment: Assignment) -> list[Item]:
    return list(assignment.items)  # load_assignment lets an item depend only on items before it


def grade(bundle: Bundle, submission, out_dir=None, gradescope=None, student: str | None = None) -> Graded:
    """Grade one submission (a .py file, a notebook or a folder) on the bundle; write its outputs into
    ``out_dir`` (and Gradescope's results.json to ``gradescope``) as items finish."""
    start = time.perf_counter()
    a = bundle.assignment
    submission = Path(submission)
    student = student or submission.stem
    wrapper, words = protections()
    graded = Graded(student, str(submission), a.name, max_score=sum(i.points for i in a.items), protections=words)
    out_dir = Path(out_dir) if out_dir else None
    if out_dir:
        out_dir.mkdir(parents=True, exist_ok=True)

    def flush():
        graded.score = round(sum(i.score for i in graded.items), 4)
        graded.seconds = time.perf_counter() - start
        graded.frameworks_imported = sorted(m for m in ("torch", "jax", "jaxlib") if m in sys.modules)
        if gradescope:
            _atomic_write(Path(gradescope), json.dumps(results_json(graded, bundle), indent=1))
        if out_dir:
            _atomic_write(out_dir / "results.json", json.dumps(results_json(graded, bundle), indent=1))

    staging = Path(tempfile.mkdtemp(prefix="crosscheck-grade-"))
    os.chmod(staging, 0o711)
    children: dict[str, boundary.Child | str] = {}
    """convention -> the submission's process for it, or why it could not be loaded that way"""
    target = None

    def child_for(convention: str, item: Item | None = None) -> boundary.Child | str:
        spec = item.spec(str(target)) if item else str(target)
        key = f"{convention} {spec}"
        if key not in children:
            child = boundary.Child(spec, timeout=a.case_timeout, memory_mb=a.memory_mb,
                                   load_timeout=min(boundary.LOAD_TIMEOUT, a.submission_timeout),
                                   convention=convention, references=bundle.references(), wrapper=wrapper,
                                   cwd=str(target.parent))
            try:
                child.start()
                children[key] = child
            except boundary.SutLoadFailed as exc:
                children[key] = _load_message(str(exc), str(target))
        return children[key]

    try:
        try:
            target = stage(submission, a.module, staging)
            loaded = child_for(a.convention)  # the module as the op items load it: does it import at all?
            if isinstance(loaded, str):
                graded.load_error = loaded
        except SubmissionError as exc:
            graded.load_error = _load_message(str(exc), str(target or ""))
        failed: dict[str, set[str]] = {}
        for item in _order(a):
            if graded.load_error is not None:
                graded.items.append(_not_run(item, f"not graded: your submission could not be loaded: "
                                                   f"{graded.load_error}"))
                flush()
                continue
            convention = item.network or a.convention
            child = child_for(convention, item)
            if isinstance(child, str):
                failed[item.name] = set(item.functions)
                graded.items.append(_not_run(item, f"not graded: your code could not be loaded as the {convention} "
                                                   f"convention needs: {child}"))
                flush()
                continue
            stand_ins = sorted({f for dep in _closure(a, item) for f in failed.get(dep, ())} - set(item.functions))
            stand_ins = [f for f in stand_ins if f in bundle.references()]
            results, note = [], ""
            item_start = time.perf_counter()
            for entry in bundle.cases[item.name]:
                left = a.submission_timeout - (time.perf_counter() - start)
                if left <= 0:
                    graded.time_limit_reached = True
                    note = f"the submission's time limit of {a.submission_timeout:g} s was reached"
                    break
                if note:
                    break
                child.timeout = min(item.case_timeout, left)
                problem = build(entry["case"])
                outcome = child.call(entry["case"], problem.params, problem.X, problem.Y, tuple(stand_ins))
                r = judge(entry, outcome, item.spec(target.name), convention)
                results.append(r)
                if r.verdict == "timeout":  # every case of a hanging function would cost its time limit again
                    note = "a case timed out, so the item's other cases were not run"
            failed[item.name] = _functions_failed(item, results) | (set(item.functions) if note else set())
            grade_ = _item_grade(item, results, len(bundle.cases[item.name]), stand_ins, note, item.spec(target.name),
                                 convention)
            grade_.seconds = time.perf_counter() - item_start
            graded.items.append(grade_)
            flush()
    finally:
        for child in children.values():
            if not isinstance(child, str):
                child.close()
        shutil.rmtree(staging, ignore_errors=True)
    flush()
    if out_dir:
        write_outputs(graded, bundle, out_dir)
    return graded


def _closure(a: Assignment, item: Item) -> list[str]:
    """The items ``item`` depends on, directly or through others."""
    out, todo = [], list(item.depends_on)
    while todo:
        name = todo.pop()
        if name not in out:
            out.append(name)
            todo += a.item(name).depends_on
    return out


def _load_message(message: str, target: str) -> str:
    """A load failure in words a student reads: the harness's own flag names and temporary paths left out."""
    message = message.replace(" (--case-timeout)", "").replace("--sut ", "")
    if target:
        message = message.replace(target, Path(target).name).replace(str(Path(target).parent) + os.sep, "")
    return message.strip()


def _not_run(item: Item, message: str) -> ItemGrade:
    g = ItemGrade(item.name, 0.0, item.points, item.visibility, status="not run", message=for_student(message),
                  tags=list(item.tags))
    g.output = message
    return g


def _output_words(case: dict, key: str) -> str:
    """'db (linear_backward's output 3 of 3)' for an op; 'dW2 (layer 2)' or 'the loss' for a network."""
    from crosscheck import contract

    if key == "answer":
        return "the answer's form"
    if ops.is_op(case):
        return ops.get(case["op"]).function_of(key)
    return "the loss (forward pass)" if key == "loss" else f"{key} (layer {contract.layer_of(key)})"


def _size(case: dict) -> int:
    problem = build(case)
    return sum(np.size(v) for v in problem.params.values()) + np.size(problem.X)


def _item_grade(item: Item, results: list[check.CaseResult], total: int, stand_ins: list[str], note: str,
                file_name: str, convention: str) -> ItemGrade:
    passed = sum(r.verdict == "pass" for r in results)
    g = ItemGrade(item.name, round(item.points * passed / total, 4), item.points, item.visibility, passed, total,
                  stand_ins=stand_ins, tags=list(item.tags))
    g.verdicts = {v: n for v in check.VERDICTS if (n := sum(r.verdict == v for r in results))}
    if total > len(results):
        g.verdicts["not run"] = total - len(results)
    failing = [r for r in results if r.verdict != "pass"]
    if failing:
        firsts = [(r.first_divergence, r.case) for r in failing if r.verdict == "fail" and r.first_divergence]
        if firsts:
            keys = [k for k, _ in firsts]
            key, case = max(firsts, key=lambda f: (keys.count(f[0]), -(["answer", *order(f[1])].index(f[0]))))
            g.first_wrong = _output_words(case, key) if key != "answer" else None
        smallest = min(failing, key=lambda r: (r.verdict != "fail", _size(r.case)))
        g.smallest = smallest.to_json()
        g.diagnosis = diagnose_item(item, failing, convention, passing=[r for r in results if r.verdict == "pass"])
        g.message = _headline(smallest, g.first_wrong)
    if note:
        g.message = f"{note}; {g.message}" if g.message else note
    g.message = for_student(g.message)
    g.output = feedback_item(g, results, file_name, convention)
    return g


def _headline(r: check.CaseResult, first_wrong: str | None) -> str:
    if r.verdict == "timeout":
        return "timed out: " + (r.problems[0] if r.problems else "")
    if r.verdict == "crashed":
        return "crashed: " + (r.problems[0] if r.problems else "")
    if r.first_divergence == "answer" or not first_wrong:
        return r.problems[0] if r.problems else "wrong answer"
    broken = [p for p in r.problems if p.startswith((first_wrong, f"{r.first_divergence} "))]
    return f"first wrong output: {broken[0] if broken else first_wrong}"


# ---------------------------------------------------------------------------------------------
# diagnosis of an item's failing cases


def _relation(sut: np.ndarray, ref: np.ndarray, m: int) -> str | None:
    """How the student's first wrong tensor relates to the expected one, in words, or None."""
    if sut.ndim == 2 and sut.shape == ref.T.shape and np.allclose(sut, ref.T, rtol=1e-4, atol=1e-6):
        return "it is the transpose of the expected value"
    if sut.shape != ref.shape:
        return f"it has shape {sut.shape}; expected {ref.shape}"
    if not np.abs(ref).max(initial=0) > 0:
        return None
    i = int(np.argmax(np.abs(ref)))
    k = sut.flat[i] / ref.flat[i]
    if np.allclose(sut, k * ref, rtol=1e-4, atol=1e-6 * np.abs(ref).max()):
        for words, value in (("m (the number of examples) times", m), ("1/m times", 1 / m), ("minus", -1.0)):
            if m > 1 or words == "minus":
                if math.isclose(k, value, rel_tol=1e-4):
                    return f"it is {words} the expected value"
        if not math.isclose(k, 1.0, rel_tol=1e-4):
            return f"it is {k:.4g} times the expected value"
    zero = (sut == 0) & (ref != 0)
    if zero.any() and np.allclose(sut[~zero], ref[~zero], rtol=1e-4, atol=1e-6 * np.abs(ref).max()):
        return "it is zero where the expected value is not, and right elsewhere"
    return None


def diagnose_item(item: Item, failing: list[check.CaseResult], convention: str,
                  passing: list[check.CaseResult] = ()) -> str | None:
    """What the item's failures say about the bug. For an op: the known bugs of the layer catalogue
    (``mutants.layers``) whose answers reproduce the student's first wrong output on every failing case, else a
    relation that holds on all of them (a ratio, a transpose). For a network: ``crosscheck.diagnose`` on the
    item's records (the component and the relation; its catalogue replay is left out, as it re-runs the cases
    through an oracle). None when nothing holds on every failing case."""
    kept = [r for r in failing if r.tensors]
    if not kept or len(kept) != len(failing):
        return None
    if item.network:
        from crosscheck import diagnose

        findings = diagnose.diagnose([r.record(detail=True) for r in [*failing, *passing]])
        return findings[0].summary if findings else None
    base = convention.split("-")[0]
    op = ops.get(item.op)
    try:
        from mutants.layers import CATALOGUE
    except Exception:  # noqa: BLE001  (a grader without the catalogue diagnoses by relation only)
        CATALOGUE = []
    stories = []
    for mutant in CATALOGUE:
        if mutant.convention != base or item.op not in mutant.first:
            continue
        sut = mutant.sut()
        for r in kept:
            problem = ops.build(r.case)
            key = r.tensors["tensor"]
            outcome = sut.call(r.case, problem.params, problem.X, problem.Y)
            if outcome.kind != "answered" or key not in (outcome.second or {}):
                break
            S = problem.bounds()
            allowed = tolerance.allowed(S[key], r.case["dtype"], r.case["dtype"])
            value = np.asarray(float(outcome.second[key])) if key == "loss" else np.asarray(outcome.second[key])
            if not compare(key, mutant.name, np.asarray(r.tensors["sut"], np.float64),
                           value.astype(np.float64), allowed).passed:
                break
        else:
            stories.append(mutant.story)
    if stories:
        return f"matches a known bug on all {len(kept)} failing cases: " + "; or ".join(stories)
    relations = set()
    for r in kept:
        m = r.case["dims"].get("N", 1)
        relations.add(_relation(np.asarray(r.tensors["sut"], np.float64), np.asarray(r.tensors["reference"],
                                                                                    np.float64), m))
    if len(relations) == 1 and None not in relations:
        key = kept[0].tensors["tensor"]
        return f"{op.function_of(key)}: {relations.pop()} (on all {len(kept)} failing cases)"
    return None


# ---------------------------------------------------------------------------------------------
# feedback and the output formats


def _case_words(case: dict) -> str:
    if not ops.is_op(case):
        return (f"a network of sizes {case['sizes']} ({', '.join(case['activations'])}; loss {case['loss']}), "
                f"batch m = {case['batch']}, {case['dtype']}, scale {case['scale']}")
    op = ops.get(case["op"])
    settings = f", settings {case['settings']}" if case.get("settings") else ""
    return f"op {op.name} ({op.formula}), dims {case['dims']}, {case['dtype']}, scale {case['scale']}{settings}"


def feedback_item(g: ItemGrade, results: list[check.CaseResult], file_name: str, convention: str) -> str:
    """What the student reads for one item. A hidden item says its score and count only."""
    lines = [f"{g.passed} of {g.total} cases passed: {g.score:g} / {g.max_score:g} points."]
    if g.stand_ins:
        they = "they" if len(g.stand_ins) > 1 else "it"
        lines.append(f"Graded with the reference {', '.join(g.stand_ins)} in place of yours ({they} lost points in "
                     f"an item of {'their' if they == 'they' else 'its'} own), so that mistake is not counted twice.")
    if g.visibility == "hidden":
        if g.score < g.max_score:
            lines.append("This item is hidden: its cases and details are not shown.")
        return "\n".join(lines)
    if g.message:
        lines.append(for_student(g.message[0].upper() + g.message[1:] + "."))
    if g.smallest is None:
        return "\n".join(lines)
    r = next(r for r in results if r.case == g.smallest["case"])
    if g.diagnosis:
        lines.append(f"Diagnosis: {g.diagnosis}.")
    lines.append(f"The smallest failing case: {_case_words(r.case)}")
    lines += [f"  problem: {p}" for p in r.problems]
    if r.output:
        lines.append("  what your code printed last:")
        lines += [f"    | {line}" for line in r.output.splitlines()]
    for c in r.comparisons:
        if c.tensor == r.first_divergence and c.against == (r.tensors or {}).get("oracle"):
            lines += check.describe(c, indent="  ")
    lines.append("Reproduce it locally (needs torch or the finite differences of the full install):")
    lines.append(f"  {check.reproduce_command(r.case, file_name, convention)}")
    return for_student("\n".join(lines))


STUDENT_WORDS = ((" (--case-timeout)", ""), (" (--case-memory)", ""), ("the SUT's", "your code's"),
                 ("The SUT's", "Your code's"), ("the SUT", "your code"), ("SUT raised", "your code raised"),
                 (": SUT ", ": yours "), (", oracle ", ", expected "), ("  ", " "))
"""The harness's words for the code it checks, as a student reads them."""


def for_student(text: str) -> str:
    lines = []
    for line in text.splitlines():
        body = line.lstrip(" ")
        for old, new in STUDENT_WORDS:
            body = body.replace(old, new)
        lines.append(line[:len(line) - len(line.lstrip(" "))] + body.rstrip())
    return "\n".join(lines)


def results_json(graded: Graded, bundle: Bundle) -> dict:
    """Gradescope's results.json: the graded items so far, with their visibility."""
    head = [f"{graded.assignment}: {graded.score:g} / {graded.max_score:g}"]
    if graded.load_error:
        head.append(f"Your submission could not be loaded: {graded.load_error}")
    if graded.time_limit_reached:
        head.append("The time limit for the whole submission was reached: items not graded score 0.")
    total = len(bundle.assignment.items)
    if len(graded.items) < total:
        head.append(f"Graded so far: {len(graded.items)} of {total} items (the grader was still running when this "
                    f"was written).")
    head.append("Protections: " + "; ".join(graded.protections) + ".")
    return {
        "score": graded.score,
        "execution_time": round(graded.seconds, 3),
        "output": "\n".join(head),
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": [{"name": i.name, "score": i.score, "max_score": i.max_score, "output": i.output,
                   "visibility": i.visibility, "tags": list(i.tags), "status": "passed" if i.score == i.max_score
                   else "failed"} for i in graded.items],
    }


def junit_xml(graded: Graded) -> str:
    suite = ET.Element("testsuite", name=graded.assignment, tests=str(len(graded.items)),
                       failures=str(sum(i.score < i.max_score and i.status == "graded" for i in graded.items)),
                       errors=str(sum(i.status != "graded" for i in graded.items)), time=f"{graded.seconds:.3f}")
    for i in graded.items:
        message = i.message if i.visibility != "hidden" else f"{i.passed} of {i.total} cases passed"
        case = ET.SubElement(suite, "testcase", classname=graded.student, name=i.name, time=f"{i.seconds:.3f}")
        ET.SubElement(case, "properties").extend([ET.Element("property", name="score", value=f"{i.score:g}"),
                                                  ET.Element("property", name="max_score", value=f"{i.max_score:g}")])
        if i.status != "graded":
            ET.SubElement(case, "error", message=message).text = i.output
        elif i.score < i.max_score:
            ET.SubElement(case, "failure", message=message or f"{i.passed} of {i.total} cases passed").text = i.output
    return ET.tostring(suite, encoding="unicode", xml_declaration=True)


def summary(graded: Graded) -> dict:
    """The per-student JSON summary. A hidden item keeps its score, counts and verdicts only: no case, first wrong
    output, diagnosis or message."""
    d = asdict(graded)
    d["timed_out"], d["crashed"] = graded.timed_out, graded.crashed
    for item in d["items"]:
        if item["visibility"] == "hidden":
            item["smallest"] = item["diagnosis"] = item["first_wrong"] = None
            item["message"] = "hidden"
    return d


def feedback_md(graded: Graded) -> str:
    lines = [f"# {graded.assignment}: {graded.student}", "", f"**Score: {graded.score:g} / {graded.max_score:g}**", ""]
    if graded.load_error:
        lines += [f"Your submission could not be loaded: {graded.load_error}", ""]
    for i in graded.items:
        lines += [f"## {i.name}: {i.score:g} / {i.max_score:g}", "", "```", i.output, "```", ""]
    lines += ["Protections: " + "; ".join(graded.protections) + "."]
    return "\n".join(lines) + "\n"


def write_outputs(graded: Graded, bundle: Bundle, out_dir: Path) -> None:
    out_dir = Path(out_dir)
    _atomic_write(out_dir / "results.json", json.dumps(results_json(graded, bundle), indent=1))
    _atomic_write(out_dir / "junit.xml", junit_xml(graded))
    _atomic_write(out_dir / "summary.json", json.dumps(summary(graded), indent=1))
    _atomic_write(out_dir / "feedback.md", feedback_md(graded))


# ---------------------------------------------------------------------------------------------
# a class


def submissions(folder: Path) -> list[Path]:
    """Each entry of a class folder is one submission: a .py file, a notebook or a folder (hidden entries skipped)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise AssignmentError(f"{str(folder)!r} is not a folder of submissions")
    return sorted(p for p in folder.iterdir() if not p.name.startswith((".", "_"))
                  and (p.is_dir() or p.suffix in (CODE_SUFFIX, NOTEBOOK_SUFFIX)))


def grade_class(bundle: Bundle, folder, out_dir, workers: int | None = None, progress=print) -> list[Graded]:
    """Grade every submission of ``folder`` in parallel (one child process each), write each student's outputs
    into ``out_dir/STUDENT/``, and ``class.json`` and the class report ``index.html`` into ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    subs = submissions(folder)
    if not subs:
        raise AssignmentError(f"{str(folder)!r} holds no submission (.py, .ipynb or folder)")
    names = [p.stem for p in subs]
    dupes = {n for n in names if names.count(n) > 1}
    students = [p.name if p.stem in dupes else p.stem for p in subs]
    protections()  # probed once, before the threads
    bundle.references()
    workers = workers or os.cpu_count() or 1

    def one(args):
        path, student = args
        g = grade(bundle, path, out_dir / student, student=student)
        progress(f"grade: {student}: {g.score:g} / {g.max_score:g} ({g.seconds:.1f} s)")
        return g

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        graded = list(pool.map(one, zip(subs, students, strict=True)))
    wall = time.perf_counter() - start
    data = {"assignment": bundle.assignment.name, "wall_seconds": wall, "workers": workers,
            "students": [summary(g) for g in graded]}
    _atomic_write(out_dir / "class.json", json.dumps(data, indent=1))
    try:
        _atomic_write(out_dir / "index.html", class_report(bundle, graded, wall))
    except ImportError as exc:
        progress(f"grade: no class report ({exc}); install the report extra for it")
    return graded


def class_report(bundle: Bundle, graded: list[Graded], wall: float) -> str:
    """The class report (HTML, self-contained): distribution, per-item pass rates, common bugs, failures, links."""
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    import reports

    templates = Path(reports.__file__).parent / "templates"  # not reports.build: that imports matplotlib

    a = bundle.assignment
    total = sum(i.points for i in a.items)
    bins = 10
    counts = [0] * bins
    for g in graded:
        counts[min(bins - 1, int(bins * g.score / total) if total else 0)] += 1
    distribution = [{"lo": total * k / bins, "hi": total * (k + 1) / bins, "n": n} for k, n in enumerate(counts)]
    items = []
    for item in a.items:
        grades = [next(i for i in g.items if i.name == item.name) for g in graded]
        items.append({"name": item.name, "points": item.points, "visibility": item.visibility,
                      "full": sum(i.score == i.max_score for i in grades),
                      "mean": sum(i.score for i in grades) / len(grades),
                      "cases": sum(i.passed for i in grades), "of": sum(i.total for i in grades),
                      "stand_ins": sum(bool(i.stand_ins) for i in grades)})
    bugs: dict[tuple, list[str]] = {}
    for g in graded:
        for i in g.items:
            if i.score < i.max_score and i.status == "graded":
                what = i.diagnosis or (f"first wrong output: {i.first_wrong}" if i.first_wrong else i.message)
                bugs.setdefault((i.name, what), []).append(g.student)
    common = sorted(({"item": k[0], "what": k[1], "students": v} for k, v in bugs.items()),
                    key=lambda b: (-len(b["students"]), b["item"]))
    env = Environment(loader=FileSystemLoader(templates), autoescape=True, undefined=StrictUndefined)
    return env.get_template("grades.html.j2").render(
        assignment=a.name, graded=sorted(graded, key=lambda g: g.student), total=total, distribution=distribution,
        peak=max(counts) or 1, items=items, common=common, wall=wall,
        mean=sum(g.score for g in graded) / len(graded),
        trouble=[g for g in graded if g.timed_out or g.crashed], protections=graded[0].protections)

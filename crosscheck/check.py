"""One case through the SUT and every oracle: comparisons, triangulation and the verdict.

Verdicts
--------
pass                 the SUT agrees with every oracle, and the oracles with each other
fail                 the SUT disagrees with the oracles (or raised, changed its inputs, or broke the contract)
unsupported          the SUT raised NotImplementedError: counted apart, never as a pass
timeout              the SUT did not answer within the time limit (its process was killed)
crashed              the SUT's process died: an exit, a signal such as SIGSEGV, or the memory limit
oracle_error         an oracle raised: a fault of the harness, never a pass
oracle_disagreement  two oracles disagree with each other: a finding about the oracles, not the SUT
no_oracle            no oracle could run: never a silent pass

The SUT is called first (``crosscheck.boundary``, the one place user code runs); the oracles run
only for a case it answers. The first divergence is judged in backward order: the loss (a forward
mismatch is the root cause), then dZ_L, dW_L, db_L, dZ_{L-1}, ... and dA0.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import shlex
import sys
import threading
import time
from dataclasses import asdict, dataclass, field, fields

import numpy as np

from crosscheck import boundary, contract, conventions, ops, sampling, tolerance
from crosscheck.compare import Comparison, compare, compare_all, compare_flat, compare_probes
from crosscheck.problems import Problem
from crosscheck.sut import Sut
from oracles import ORACLES

VERDICTS = ("pass", "fail", "unsupported", "timeout", "crashed", "oracle_error", "oracle_disagreement", "no_oracle")
FAILING = ("fail", "timeout", "crashed", "oracle_error", "oracle_disagreement", "no_oracle")
"""The verdicts that fail a test, most severe first."""
ABORTING = ("timeout", "crashed")
"""Verdicts that cost a whole time limit or a process: recorded once, never re-run by a shrinker."""
CHECKED = ("pass", "fail", "oracle_error", "oracle_disagreement")
"""Verdicts of a case the SUT answered and the harness judged: what counts as checked."""
PROBED = "probed"
"""The key that marks an oracle's answer as probes only (``run_oracles``)."""
TENSOR_MAX_ENTRIES = 4096
"""A failing case keeps the SUT's and one disagreeing oracle's first diverging tensor in full precision
(rows layout), for ``crosscheck.diagnose``, up to this size."""
DETAIL_MAX_ENTRIES = 1 << 14
"""Per-entry errors are kept for the report's heatmaps only for tensors up to this size."""
RECORD_VERSION = 2
"""The shape of a results-file record (``CaseResult.record``). 2: every record says ``record_version``, and
a case that did not fail is compact unless detail was asked for; records without the field are version 1,
every one full."""
_FULL_ONLY = ("comparisons", "oracle_pairs", "tensors", "oracles")


@dataclass
class CaseResult:
    case: dict
    sut: str
    verdict: str
    first_divergence: str | None = None
    layer: int | None = None
    problems: list[str] = field(default_factory=list)
    comparisons: list[Comparison] = field(default_factory=list)
    oracle_pairs: list[Comparison] = field(default_factory=list)
    oracles: dict[str, dict] = field(default_factory=dict)
    """name -> {'ran': bool, 'reason': str, 'seconds': float, 'error': bool}; 'error' marks an oracle
    that raised, as opposed to one whose framework is not installed."""
    seconds: float = 0.0
    probed: list[str] = field(default_factory=list)
    """The oracles that answered only the probes of a sampled case (``crosscheck.sampling``)."""
    values: dict | None = None
    """Each oracle's answer (rows layout), when asked for: see ``check(keep_values=True)``."""
    extra_keys: list[str] = field(default_factory=list)
    """Keys the SUT returned that the contract does not name: ignored, listed here."""
    output: str = ""
    """What the SUT printed last before a crash or timeout, or where it raised."""
    sut_seconds: float = 0.0
    """The SUT's two calls, on its side of the boundary."""
    convention: str = "contract"
    """How the SUT's code is written (``crosscheck.conventions``)."""
    names: str = ""
    """The naming file of a module of layer functions (``crosscheck.naming``), or ""."""
    not_checked: list[str] = field(default_factory=list)
    """Tensors the SUT declares it does not return (``supports['returns']``): never compared."""
    tensors: dict | None = None
    """A failing case's first diverging tensor, the SUT's and an oracle's, in full precision
    (``TENSOR_MAX_ENTRIES``): {'tensor', 'oracle', 'sut', 'reference'}."""

    @property
    def failed(self) -> bool:
        return self.verdict in FAILING

    def reproduce(self) -> str:
        """The shell command that re-runs this case (quoted for a POSIX shell)."""
        return reproduce_command(self.case, self.sut, self.convention, self.names)

    def to_json(self) -> dict:
        d = asdict(self)
        d["reproduce"] = self.reproduce()
        return _finite(d)

    def record(self, detail: bool = False) -> dict:
        """This case's record in a results file (``record_version`` ``RECORD_VERSION``).

        A failing case, or any case with ``detail``, keeps everything ``to_json`` gives. Any other is
        compact (under 2 kB up to depth 6 with three oracles):

        * no ``comparisons``, ``oracle_pairs``, ``tensors`` or ``reproduce`` (``reproduce_command`` makes
          it from the case), no field that is an empty list or "" (a reader takes its default) and no
          ``values`` unless they were recorded;
        * ``margins``: oracle -> tensor -> the SUT's margin against that oracle, and ``pair_margins``:
          'a~b' -> the largest margin between those two oracles over every tensor, to 3 significant
          digits (the report's);
        * ``oracles``: each oracle's status without its empty fields; times to 4 significant digits.

        A sampled case's probes are described by ``sampling.plan`` of its case. ``record_margins`` reads
        the margins of either form.
        """
        if detail or self.failed:
            return {"record_version": RECORD_VERSION, **self.to_json()}
        d = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in _FULL_ONLY}
        d = {k: v for k, v in d.items() if v != [] and v != "" and not (k == "values" and v is None)}
        d["seconds"], d["sut_seconds"] = _digits(self.seconds, 4), _digits(self.sut_seconds, 4)
        d["oracles"] = {name: {k: _digits(v, 4) if k == "seconds" else v for k, v in s.items()
                               if k == "ran" or v not in ("", False)} for name, s in self.oracles.items()}
        margins, pairs = {}, {}
        for c in self.comparisons:
            margins.setdefault(c.against, {})[c.tensor] = _digits(c.margin, 3)
        for c in self.oracle_pairs:
            pairs[c.against] = max(pairs.get(c.against, 0.0), _digits(c.margin, 3))
        d["margins"], d["pair_margins"], d["record_version"] = margins, pairs, RECORD_VERSION
        return _finite(d)

    def message(self) -> str:
        return _message(self)


def reproduce_command(case: dict, sut: str, convention: str = "contract", names: str = "") -> str:
    """The shell command that re-runs a case (quoted for a POSIX shell): a compact record's readers make it
    from the record's case, sut, convention and naming file."""
    if ops.is_op(case):  # --layers FILE --convention cs231n | ng [--names FILE]
        base = next((k for k, v in conventions.LAYERS.items() if v == convention), convention)
        names_ = f"--names {shlex.quote(names)} " if names else ""
        return (f"python -m crosscheck reproduce --layers {shlex.quote(sut)} --convention {base} {names_}"
                f"{shlex.quote(json.dumps(case, sort_keys=True))}")
    convention_ = f"--convention {convention} " if convention != "contract" else ""
    return (f"python -m crosscheck reproduce --sut {shlex.quote(sut)} {convention_}"
            f"{shlex.quote(json.dumps(case, sort_keys=True))}")


def reproduce_of(record: dict) -> str:
    """A case record's reproduce command: its own, or, for a compact record, made from its case."""
    if isinstance(record.get("reproduce"), str):
        return record["reproduce"]
    return reproduce_command(record["case"], record["sut"], record.get("convention") or "contract",
                             record.get("names") or "")


def _digits(x: float, digits: int) -> float:
    return float(f"{x:.{digits}g}")


def record_margins(record: dict) -> tuple[dict[str, dict[str, float]], dict[str, float]]:
    """(margins, pair_margins) of a case record of either form (``CaseResult.record``): oracle -> tensor ->
    the SUT's margin, and 'a~b' -> the largest margin between two oracles; inf for a comparison that failed
    on shape or dtype, nan where the record holds no number."""
    if "margins" in record:
        margins = record.get("margins") if isinstance(record.get("margins"), dict) else {}
        pairs = record.get("pair_margins") if isinstance(record.get("pair_margins"), dict) else {}
        return ({str(a): {str(t): _number(m) for t, m in by.items()}
                 for a, by in margins.items() if isinstance(by, dict)}, {str(p): _number(m) for p, m in pairs.items()})
    margins, pairs = {}, {}
    for c in record.get("comparisons") or []:
        if isinstance(c, dict):
            margins.setdefault(str(c.get("against")), {})[str(c.get("tensor"))] = _number(c.get("margin"))
    for c in record.get("oracle_pairs") or []:
        if isinstance(c, dict):
            m, pair = _number(c.get("margin")), str(c.get("against"))
            pairs[pair] = max(pairs.get(pair, m), m)
    return margins, pairs


def _number(x) -> float:
    try:
        return float(x)
    except (TypeError, ValueError):
        return math.nan


def _finite(obj):
    """JSON has no inf or nan: write them as strings."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return str(obj)
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_finite(v) for v in obj]
    return obj


ORACLE_TIMEOUT = 600.0
"""Seconds one oracle may take on one case (a first JAX compilation takes a few): past it the oracle
is hung in code no thread can interrupt, so its process records the case and ends."""
ORACLE_HANG_EXIT = 75


def _hung(name: str, limit: float, on_hang) -> None:
    message = (f"oracle {name} did not answer within {limit:g} s (--oracle-timeout); a hung oracle cannot be "
               f"interrupted, so this process ends here")
    try:
        if on_hang is not None:
            on_hang(message)
    finally:
        sys.stderr.write(f"backprop-crosscheck: {message}\n")
        sys.stderr.flush()
        os._exit(ORACLE_HANG_EXIT)


class _Watchdog:
    """One thread per process that ends it when an armed oracle call outlives its limit (``_hung``).

    Arming and disarming only set a deadline under a lock: starting a thread per oracle call (a
    ``threading.Timer``) waits for the new thread to be scheduled, which on a loaded machine cost more
    than the oracle itself. The thread sleeps until the earliest deadline it knows of and is woken only
    when an earlier one is armed.
    """

    def __init__(self):
        self._cond = threading.Condition()
        self._armed = None
        """(deadline, name, limit, on_hang) of the call being watched, or None."""
        self._sleeping_until = math.inf
        self._thread = None

    def arm(self, name: str, limit: float, on_hang) -> None:
        deadline = time.monotonic() + limit
        with self._cond:
            self._armed = (deadline, name, limit, on_hang)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._watch, name="crosscheck-oracle-watchdog", daemon=True)
                self._thread.start()
            elif deadline < self._sleeping_until:
                self._cond.notify()

    def disarm(self) -> None:
        with self._cond:
            self._armed = None  # the thread wakes at the deadline it sleeps on, finds nothing, and waits

    def _watch(self) -> None:
        while True:
            with self._cond:
                armed = self._armed
                left = math.inf if armed is None else armed[0] - time.monotonic()
                if left > 0:
                    self._sleeping_until = time.monotonic() + left
                    self._cond.wait(None if left == math.inf else left)
                    self._sleeping_until = math.inf
                    continue
            _hung(*armed[1:])


_watchdog = _Watchdog()


def run_oracles(problem: Problem, names=None, rows=None, probes=None, timeout: float | None = ORACLE_TIMEOUT,
                on_hang=None):
    """Every requested oracle's answer (rows layout, float64), and a status line for each.

    ``rows`` is ``problem.rows64()`` when the caller already has it. With ``probes`` (a sampled
    case, ``crosscheck.sampling.plan``), an oracle that can probe answers only the probes, and its
    status says so (``probed``). An oracle that raises is an error of its own (``error``); one that
    runs past ``timeout`` calls ``on_hang(message)`` (the plugin records the case) and ends the process.
    """
    is_op = ops.is_op(problem.case)
    params, X, Y = (None, None, None) if is_op else rows or problem.rows64()
    answers, status = {}, {}
    for name in (ORACLES if names is None else names):
        oracle = ORACLES[name]
        ok, reason = oracle.available()
        if ok and is_op and oracle.ops is None:
            ok, reason = False, "not an oracle of layer ops (each new shape would cost it a compile)"
        if not ok:
            status[name] = {"ran": False, "reason": reason, "seconds": 0.0}
            continue
        start = time.perf_counter()
        if timeout:
            _watchdog.arm(name, timeout, on_hang)
        try:
            if is_op:
                answers[name] = oracle.ops(problem.op, problem.inputs64())
            elif probes is not None and oracle.probes is not None:
                answers[name] = oracle.probes(problem.case, params, X, Y, probes)
                answers[name][PROBED] = True
            else:
                answers[name] = oracle.gradients(problem.case, params, X, Y)
            status[name] = {"ran": True, "reason": "", "seconds": time.perf_counter() - start}
        except Exception as exc:  # an oracle that raises is a fault, not an absent framework
            status[name] = {"ran": False, "error": True, "reason": f"raised {type(exc).__name__}: {exc}",
                            "seconds": time.perf_counter() - start}
        finally:
            if timeout:
                _watchdog.disarm()
    return answers, status


class _Allowance:
    """Every tensor's allowed error (``tolerance.allowed``) for a pair of computations, in one pass over
    the error model's S flattened once per case, and kept for the next pair of the same dtypes and gains."""

    def __init__(self, S: dict):
        self.keys = tuple(S)
        self.shapes = [np.shape(S[k])[1:] for k in self.keys]
        self.flat = np.concatenate([np.reshape(S[k], (2, -1)) for k in self.keys], axis=1)
        self.ends = list(itertools.accumulate(math.prod(shape) for shape in self.shapes))
        self._kept = {}

    def _both(self, key: tuple) -> tuple[np.ndarray, dict]:
        if key not in self._kept:
            flat = tolerance.allowed(self.flat, *key)
            self._kept[key] = flat, {k: flat[end - math.prod(shape):end].reshape(shape)
                                     for k, shape, end in zip(self.keys, self.shapes, self.ends, strict=True)}
        return self._kept[key]

    def __call__(self, dtype_a: str, dtype_b: str, gain_a: float, gain_b: float) -> dict:
        """key -> the allowed error of each entry of that tensor."""
        return self._both((dtype_a, dtype_b, gain_a, gain_b))[1]

    def over(self, keys: tuple, shapes: list, dtype_a: str, dtype_b: str, gain_a: float, gain_b: float) -> np.ndarray:
        """The allowed errors of tensors ``keys`` of ``shapes``, flattened and laid end to end."""
        flat, each = self._both((dtype_a, dtype_b, gain_a, gain_b))
        if keys == self.keys and shapes == self.shapes:
            return flat
        parts = [each[k] if each[k].shape == shape else np.broadcast_to(each[k], shape)
                 for k, shape in zip(keys, shapes, strict=True)]
        return np.concatenate([part.reshape(-1) for part in parts])


class _OnePass:
    """The comparisons of every answer pair of a case, queued and then made in one vectorized pass
    (``compare.compare_flat``): each answer is flattened once, in the order of a pair's keys, and every pair's
    tensors are laid end to end. A pair with a tensor that cannot be compared entry by entry as it stands (a
    shape, a dtype, an empty tensor) is queued tensor by tensor (``compare_all``)."""

    def __init__(self):
        self.items = []
        """``compare_all``'s items, made after the flat pairs."""
        self.tensors, self.against, self.shapes, self.flats = [], [], [], []
        self._flattened = {}

    def _flat(self, answer: dict, keys: tuple) -> np.ndarray:
        """``answer``'s tensors over ``keys``, flattened and laid end to end in float64, once a case."""
        kept = (id(answer), keys)
        if kept not in self._flattened:
            parts = [x.reshape(-1) if isinstance(x, np.ndarray) else np.reshape(x, -1) for x in map(answer.get, keys)]
            self._flattened[kept] = (answer, np.concatenate(parts, dtype=np.float64, casting="unsafe"))
        return self._flattened[kept][1]

    def pair(self, keys: list[str], a: dict, b: dict, against: str, allowance: _Allowance, computations: tuple,
             expected_dtype) -> list | None:
        """Queue a against b over ``keys`` as one flat pair, allowed what ``allowance.over(..., *computations)`` gives,
        and return the positions of its comparisons; None when a tensor of the pair cannot be compared entry by
        entry as it stands."""
        if not keys:
            return []  # nothing in common to compare (an answer that is not a dict, say)
        shapes, dtype = [], None if expected_dtype is None else np.dtype(expected_dtype)
        for key in keys:
            x, y = a[key], b[key]
            if key == "loss":
                if np.ndim(x) or np.ndim(y):
                    return None
                shapes.append(())
            elif (type(x) is np.ndarray and type(y) is np.ndarray and x.shape == y.shape and x.size
                  and (dtype is None or x.dtype == dtype)):
                shapes.append(x.shape)
            else:
                return None
        keys = tuple(keys)
        at = len(self.tensors)
        self.tensors += keys
        self.against += [against] * len(keys)
        self.shapes += shapes
        self.flats.append((self._flat(a, keys), self._flat(b, keys), allowance.over(keys, shapes, *computations)))
        return list(range(at, at + len(keys)))

    def run(self) -> None:
        """Make every queued comparison (``resolved`` hands them out)."""
        flat = []
        if self.flats:
            v, ref, allowed = (np.concatenate(side) for side in zip(*self.flats, strict=True))
            flat = compare_flat(self.tensors, self.against, self.shapes, v, ref, allowed)
        self.done = (flat, compare_all(self.items))

    def resolved(self, slots: list) -> list[Comparison]:
        """``_compare_answers``'s list with each queued comparison's position (a flat pair's from 0 up, an item's
        from -1 down) replaced by its Comparison, once ``run``."""
        flat, items = self.done
        return [s if not isinstance(s, int) else flat[s] if s >= 0 else items[-1 - s] for s in slots]


def _compare_answers(order, a, b, against, dtype_a, S, expected_dtype=None, gain_a=1.0, gain_b=1.0,
                     detail=False, probes=None, fan_in=0, allowance=None, queue=None):
    """Compare a's answer with oracle b's, loss first, then in backward order.

    When b answered only ``probes`` (a sampled case), each tensor of a is probed the same way and
    compared probe by probe; ``fan_in`` is what ``tolerance.probes_allowed`` needs. Full tensors are
    compared in one vectorized pass unless ``detail`` asks for per-entry errors: with ``queue`` (an
    ``_OnePass``), they are queued there, for one pass over every pair of a case, and stand in the list
    returned as their positions (``_OnePass.resolved``). ``allowance`` (an ``_Allowance`` of S) saves
    recomputing the allowed errors pair by pair.
    """
    keys = [key for key in ["loss"] + order if key in a and key in b]
    own = queue is None
    queue = _OnePass() if own else queue
    allowance = allowance or _Allowance(S)
    computations = (dtype_a, "float64", gain_a, gain_b)
    out = None if detail or b.get(PROBED) else queue.pair(keys, a, b, against, allowance, computations,
                                                          expected_dtype)
    if out is None:
        out = []
        for key in keys:
            value = np.asarray(a[key]) if key != "loss" else np.asarray(float(a[key]))
            reference = np.asarray(b[key], np.float64)
            if b.get(PROBED) and key != "loss":
                allowed = tolerance.probes_allowed(probes[key], S[key], value, dtype_a, "float64", fan_in, gain_a,
                                                   gain_b)
                out.append(compare_probes(key, against, value, reference, allowed, probes[key], expected_dtype))
            elif not detail:
                out.append(-1 - len(queue.items))
                queue.items.append((key, against, value, reference, allowance(*computations)[key],
                                    expected_dtype if key != "loss" else None))
            else:
                allowed = tolerance.allowed(S[key], dtype_a, "float64", gain_a, gain_b)
                c = compare(key, against, value, reference, allowed, expected_dtype if key != "loss" else None)
                if c.problem is None and key != "loss" and reference.size <= DETAIL_MAX_ENTRIES:
                    c.detail = {"abs_error": _rounded(np.abs(value.astype(np.float64) - reference)),
                                "allowed": _rounded(np.broadcast_to(allowed, reference.shape))}
                out.append(c)
    if own:
        queue.run()
        return queue.resolved(out)
    return out


def _rounded(array: np.ndarray) -> list:
    """A nested list with 4 significant digits: enough to draw, small enough to store."""
    return np.vectorize(lambda x: float(f"{x:.4g}"), otypes=[float])(array).tolist() if array.size else []


def _call(result: CaseResult, problem, sut: Sut, start: float, outcome: boundary.Outcome | None = None):
    """The SUT's outcome on the problem (``outcome`` when it is already known), or None when it did not answer
    (``result`` then says why)."""
    case = problem.case
    if outcome is None:
        outcome = sut.call(case, problem.params, problem.X, problem.Y)
    result.sut_seconds, result.extra_keys, result.output = outcome.seconds, outcome.extra_keys, outcome.output
    if (outcome.kind == "unsupported" and sut.supports is not None and not ops.is_op(case)
            and contract.outside(case, sut.supports) is None):
        outcome.kind = "raised"  # declining a case inside what it declares is no unsupported case
        outcome.message = f"the SUT declined a case inside its declared supports: {outcome.message}"
    if outcome.kind != "answered":
        result.verdict = {"unsupported": "unsupported", "timeout": "timeout", "crashed": "crashed"}.get(
            outcome.kind, "fail")
        result.problems = [outcome.message]
        if outcome.kind == "mutated":
            result.first_divergence = "answer"
        result.seconds = time.perf_counter() - start
        return None
    return outcome


def _sut_and_oracles(result: CaseResult, problem, sut: Sut, start: float, oracle_names, oracle_timeout, on_hang,
                     rows=None, probes=None):
    """((the SUT's first answer, its second), the oracles' answers) for one problem, with the oracles' statuses in
    ``result``; None when the SUT did not answer (``result`` then says why, and counts no oracle).

    A SUT in its own process that declares its supports works while the oracles run. A SUT that declares nothing
    may decline any case, and a case it declines should cost no oracle run, so it is called first, as is a SUT in
    this process (no second process to work in). If an oracle hangs, the case is recorded on the SUT's own outcome
    when the SUT did not answer, as ``oracle_error`` otherwise (``run_oracles``' ``on_hang``). If anything raises
    before the SUT's outcome is collected, its process is closed, so that the case left behind is never taken for
    the next one.
    """
    pending = sut.begin(problem.case, problem.params, problem.X, problem.Y) if sut.supports is not None else None
    if pending is None:
        outcome = _call(result, problem, sut, start)
        if outcome is None:
            return None

    def hung(message):
        if on_hang is None:
            return
        if pending is None or _call(result, problem, sut, start, pending()) is not None:
            result.verdict, result.problems = "oracle_error", [message]
        result.seconds = time.perf_counter() - start
        on_hang(result)

    try:
        answers, result.oracles = run_oracles(problem, oracle_names, rows, probes, oracle_timeout, hung)
    except BaseException:
        if pending is not None:
            sut.close()
        raise
    if pending is not None:
        outcome = _call(result, problem, sut, start, pending())
        if outcome is None:  # as if it had been called first: what did not answer is judged on its outcome alone
            result.oracles = {}
            return None
    return (outcome.first, outcome.second), answers


def check(problem: Problem, sut: Sut, oracle_names=None, keep_values=False,
          oracle_timeout: float | None = ORACLE_TIMEOUT, on_hang=None) -> CaseResult:
    """Run the SUT and the oracles on one problem (the oracles while the SUT works, ``_sut_and_oracles``) and judge
    the SUT.

    ``keep_values`` stores every oracle's answer in the result (rows layout, full precision), for
    comparing environments. ``on_hang(result)`` receives the ``oracle_error`` result of a case whose
    oracle hung past ``oracle_timeout``, before the process ends (``run_oracles``).
    """
    if ops.is_op(problem.case):
        return check_op(problem, sut, oracle_names, keep_values, oracle_timeout, on_hang)
    start = time.perf_counter()
    case = problem.case
    contract.validate_inputs(case, problem.params, problem.X, problem.Y)
    result = CaseResult(case=case, sut=sut.spec, verdict="pass", convention=sut.convention, names=sut.names)
    m = contract.batch_size(case, problem.X)
    order = contract.backward_order(case)

    rows = problem.rows64()
    probes = sampling.plan(case, m) if "sample" in case else None
    fan_in = tolerance.probe_sums(case, m)
    both = _sut_and_oracles(result, problem, sut, start, oracle_names, oracle_timeout, on_hang, rows, probes)
    if both is None:
        return result
    (first, raw), answers = both
    result.probed = [name for name, ans in answers.items() if ans.get(PROBED)]
    S = problem.bounds()
    allowance = _Allowance(S)
    queue, pairs = _OnePass(), []  # every answer pair's comparisons, made in one pass
    for (na, a), (nb, b) in itertools.combinations(answers.items(), 2):
        if a.get(PROBED) and b.get(PROBED):
            continue  # only fd probes; two probed answers are each compared with the full ones instead
        if a.get(PROBED):
            (na, a), (nb, b) = (nb, b), (na, a)
        pairs.append(_compare_answers(order, a, b, f"{na}~{nb}", "float64", S, gain_a=ORACLES[na].underflow_gain,
                                      gain_b=ORACLES[nb].underflow_gain, probes=probes, fan_in=fan_in,
                                      allowance=allowance, queue=queue))

    result.not_checked = contract.not_returned(case, sut.supports)
    if isinstance(raw, dict) and "dA0" not in raw and "dA0" not in result.not_checked:
        result.not_checked.append("dA0")  # optional in every contract version
    problems = both_answers(lambda a: contract.check_answer(case, a, m, skip=tuple(result.not_checked)), first, raw)
    result.problems = [p for _, p in problems]
    if answers:
        broken = {key for key, _ in problems}
        usable = {k: v for k, v in raw.items() if k not in broken} if isinstance(raw, dict) else {}
        salvaged = _salvage(case, raw, problems, m)  # a wrong dtype or shape does not skip the values
        usable.update({k: v for k, (v, _) in salvaged.items()})
        sut_rows = contract.to_rows(case, {k: v for k, v in usable.items() if k != "loss"})
        if "loss" in usable:
            sut_rows["loss"] = usable["loss"]

        def against_each(detail=False, queue=None):
            return [_compare_answers(order, sut_rows, ans, name, case["dtype"], S, case["dtype"],
                                     gain_b=ORACLES[name].underflow_gain, detail=detail, probes=probes,
                                     fan_in=fan_in, allowance=allowance, queue=queue) for name, ans in answers.items()]

        queued = against_each(queue=queue)
    queue.run()
    result.oracle_pairs = [c for slots in pairs for c in queue.resolved(slots)]
    if answers:
        comparisons = [queue.resolved(slots) for slots in queued]
        if any(not c.passed for cs in comparisons for c in cs):
            comparisons = against_each(detail=True)  # a failing case keeps per-entry errors, for heatmaps
        result.comparisons = [c for cs in comparisons for c in cs]
        problems = _say_values(problems, salvaged, result.comparisons)
        result.problems = [p for _, p in problems]
    if keep_values:
        # full answers only: a sampled case's probes are not tensors (environments compare entries)
        result.values = {name: {k: np.asarray(v, np.float64).tolist() if k != "loss" else float(v)
                                for k, v in ans.items()} for name, ans in answers.items() if not ans.get(PROBED)}

    judge(result, answers, problems, ["answer", "loss"] + order,
           lambda first: contract.layer_of(first) if first not in (None, "answer", "loss") else None)
    if result.verdict == "fail" and answers and result.first_divergence not in (None, "answer"):
        result.tensors = _kept(result.first_divergence, {**_misshapen(case, raw, result.first_divergence),
                                                         **sut_rows}, answers, result.comparisons)
    result.seconds = time.perf_counter() - start
    return result


def _salvage(case: dict, raw, problems: list, m: int) -> dict[str, tuple[np.ndarray, str]]:
    """key -> (the SUT's tensor cast to the case's dtype and in the contract's shape, how) for every tensor
    whose only problem is its dtype, or a shape that holds the same entries in one reading only: a
    vector as (n,), (n, 1) or (1, n), or a matrix transposed. Its values are then still compared."""
    out, shapes = {}, contract.gradient_shapes(case, m)
    for key, text in problems:
        value = raw.get(key) if isinstance(raw, dict) else None
        if not (isinstance(value, np.ndarray) and key in shapes and np.issubdtype(value.dtype, np.number)
                and not np.iscomplexobj(value) and text.startswith((f"{key} has dtype", f"{key} has shape"))):
            continue
        shape, how = shapes[key], []
        if value.shape != shape:
            if value.size != math.prod(shape):
                continue
            if [n for n in value.shape if n != 1] == [n for n in shape if n != 1]:
                value, how = value.reshape(shape), [f"reshaped to {shape}"]
            elif value.ndim == 2 and value.shape == shape[::-1]:
                value, how = value.T, ["transposed"]
            else:
                continue
        if value.dtype != np.dtype(case["dtype"]):
            how.append(f"cast to {case['dtype']}")
            value = value.astype(case["dtype"])
        out[key] = (value, " and ".join(how))
    return out


def _say_values(problems: list, salvaged: dict, comparisons: list[Comparison]) -> list[tuple[str, str]]:
    """Each salvaged tensor's problem, followed by what its values say."""
    out = []
    for key, text in problems:
        mine = [c for c in comparisons if c.tensor == key]
        if key in salvaged and text.startswith(f"{key} has") and mine:
            bad = [c for c in mine if not c.passed]
            if not bad:
                text += f"; {salvaged[key][1]}, its values agree with every oracle"
            else:
                worst = max(bad, key=lambda c: c.margin)
                text += (f"; {salvaged[key][1]}, its values differ: worst margin {worst.margin:.3g} against "
                         f"{worst.against} ({worst.mismatched}/{worst.total} entries)")
        out.append((key, text))
    return out


def _misshapen(case: dict, raw, key: str) -> dict[str, np.ndarray]:
    """The SUT's real-valued ``key`` whatever its shape (rows layout, float64): a failing case keeps its first
    diverging tensor even when its shape could not be compared (``_kept``), for ``crosscheck.diagnose``."""
    value = raw.get(key) if isinstance(raw, dict) and key != "loss" else None
    if not (isinstance(value, np.ndarray) and np.issubdtype(value.dtype, np.number) and not np.iscomplexobj(value)
            and value.ndim <= 2):
        return {}
    return {key: contract.to_rows(case, {key: value})[key].astype(np.float64)}


def judge(result: CaseResult, answers: dict, problems: list, order: list, layer_of) -> None:
    """The verdict of a case the SUT answered, and its first divergence (the first failing key in ``order``), from
    ``result``'s comparisons and oracle statuses and the answer's ``problems`` (``both_answers``); ``answers`` are the
    oracles' (live, or a grading bundle's)."""
    failed_keys = {c.tensor for c in result.comparisons if not c.passed} | {key for key, _ in problems}
    errors = {n: s for n, s in result.oracles.items() if s.get("error")}
    if errors:
        result.verdict = "oracle_error"
        result.problems += [f"oracle {n} {s['reason']}" for n, s in errors.items()]
    elif not answers:
        result.verdict = "no_oracle"
        result.problems.append("no oracle ran: " + "; ".join(f"{n}: {s['reason']}" for n, s in result.oracles.items()))
    elif any(not c.passed for c in result.oracle_pairs):
        result.verdict = "oracle_disagreement"
    elif failed_keys:
        result.verdict = "fail"
    if failed_keys:
        first = next((k for k in order if k in failed_keys), None)
        result.first_divergence = first
        result.layer = layer_of(first)


def check_op(problem: ops.OpProblem, sut: Sut, oracle_names=None, keep_values=False,
             oracle_timeout: float | None = ORACLE_TIMEOUT, on_hang=None) -> CaseResult:
    """``check`` for one layer op (``crosscheck.ops``): the same SUT call, oracles, comparisons and
    verdicts; the tensors are the op's outputs, forward's first, and each is allowed what the op's
    rule (``tolerance``) gives it."""
    start = time.perf_counter()
    case, op = problem.case, problem.op
    result = CaseResult(case=case, sut=sut.spec, verdict="pass", convention=sut.convention, names=sut.names)
    both = _sut_and_oracles(result, problem, sut, start, oracle_names, oracle_timeout, on_hang)
    if both is None:
        return result
    (first, raw), answers = both
    S = problem.bounds()
    order = op.order
    for (na, a), (nb, b) in itertools.combinations(answers.items(), 2):
        result.oracle_pairs += _compare_op(order, a, b, f"{na}~{nb}", "float64", S, None,
                                           ORACLES[na].underflow_gain, ORACLES[nb].underflow_gain)
    problems = both_answers(lambda a: ops.check_answer(problem, a), first, raw)
    result.problems = [p for _, p in problems]
    if answers:
        broken = {key for key, _ in problems}
        usable = {k: v for k, v in raw.items() if k not in broken} if isinstance(raw, dict) else {}

        def against_each(detail=False):
            return [_compare_op(order, usable, ans, name, case["dtype"], S, case["dtype"], 1.0,
                                ORACLES[name].underflow_gain, detail) for name, ans in answers.items()]

        comparisons = against_each()
        if any(not c.passed for cs in comparisons for c in cs):
            comparisons = against_each(detail=True)
        result.comparisons = [c for cs in comparisons for c in cs]
    if keep_values:
        result.values = {name: {k: np.asarray(v, np.float64).tolist() if k != "loss" else float(v)
                                for k, v in ans.items()} for name, ans in answers.items()}
    judge(result, answers, problems, ["answer", *order], lambda first: None)
    wider = sorted({c.tensor for c in result.comparisons if (c.problem or "").startswith("dtype float64")})
    if wider and case["dtype"] == "float32":  # the courses' layers allocate float64 (np.zeros) on purpose
        result.problems.append(f"{', '.join(wider)} came back float64 from a float32 case: a module written for "
                               "float64 alone declares supports = {'dtypes': ['float64']} (docs/layers.md)")
    if result.verdict == "fail" and answers and result.first_divergence not in (None, "answer"):
        result.tensors = _kept(result.first_divergence, usable, answers, result.comparisons)
    result.seconds = time.perf_counter() - start
    return result


def _kept(tensor: str, sut_rows: dict, answers: dict, comparisons: list[Comparison]) -> dict | None:
    """The SUT's and the first disagreeing oracle's ``tensor`` (full answers only), small enough to keep."""
    against = next((c.against for c in comparisons if c.tensor == tensor and not c.passed and c.problem is None
                    and not answers.get(c.against, {}).get(PROBED)), None)
    if against is None and not any(c.tensor == tensor and c.problem is None for c in comparisons):
        # values not compared (a shape no reading makes right): any full answer shows the relation
        against = next((name for name, ans in answers.items() if not ans.get(PROBED)), None)
    if against is None or tensor not in sut_rows or tensor not in answers[against]:
        return None
    sut, ref = np.asarray(sut_rows[tensor], np.float64), np.asarray(answers[against][tensor], np.float64)
    if sut.size > TENSOR_MAX_ENTRIES:
        return None
    return {"tensor": tensor, "oracle": against, "sut": sut.tolist(), "reference": ref.tolist()}


def _compare_op(order, a, b, against, dtype_a, S, expected_dtype, gain_a, gain_b, detail=False):
    """Compare a's outputs of one op with b's, in the op's order (a loss is a number: no dtype to hold it to)."""
    out = []
    for key in order:
        if key not in a or key not in b:
            continue
        value = np.asarray(float(a[key])) if key == "loss" else np.asarray(a[key])
        reference = np.asarray(b[key], np.float64)
        allowed = tolerance.allowed(S[key], dtype_a, "float64", gain_a, gain_b)
        c = compare(key, against, value, reference, allowed, expected_dtype if key != "loss" else None)
        if detail and c.problem is None and key != "loss" and reference.size <= DETAIL_MAX_ENTRIES:
            c.detail = {"abs_error": _rounded(np.abs(value.astype(np.float64) - reference)),
                        "allowed": _rounded(np.broadcast_to(allowed, reference.shape))}
        out.append(c)
    return out


def both_answers(check_one, first, raw) -> list[tuple[str, str]]:
    """(key, problem) of the second answer, then of the first (held to the contract as much as the
    second), then of what differs between them. Two answers that were the same bits are one object
    (``boundary.call_twice``): the second's problems are the first's."""
    problems = list(check_one(raw))
    if first is raw:
        return problems
    seen = {key for key, _ in problems}
    for key, problem_ in check_one(first):
        if key not in seen:
            problems.append((key, f"first call: {problem_}"))
            seen.add(key)
    return problems + _differences(first, raw, seen)


def _differences(first, second, already):
    """(key, problem) for every contract tensor that differs between two calls with the same inputs."""
    if not (isinstance(first, dict) and isinstance(second, dict)):
        return []
    out = []
    for key in sorted(set(first) ^ set(second)):
        if key not in already:
            out.append((key, f"{key} is in the answer of one call only: state kept between calls?"))
    for key in second:
        if key in already or key not in first:
            continue
        try:
            a, b = np.asarray(first[key], np.float64), np.asarray(second[key], np.float64)
            same = a.shape == b.shape and np.array_equal(a, b, equal_nan=True)
        except (TypeError, ValueError):
            continue  # not numbers: check_answer has said so
        if not same:
            out.append((key, f"{key} differs between two calls with the same inputs: state kept between calls?"))
    return out


def _fmt_index(index, checked=None):
    if checked and not index:
        return f"({sampling.ALONG_DIRECTION})"
    return "(" + ", ".join(str(i) for i in index) + ")"


def describe(c: Comparison, indent="    ") -> list[str]:
    """The lines that tell one comparison: counts, the greatest differences and the worst margin."""
    if c.problem:
        return [f"{indent}{c.tensor} vs {c.against}: {c.problem}"]
    pct = 100.0 * c.mismatched / c.total if c.total else 0.0
    mark = "agrees" if c.passed else "DIFFERS"
    return [
        f"{indent}{c.tensor} vs {c.against}: {mark}; mismatched {'probes' if c.checked else 'elements'}: "
        f"{c.mismatched} / {c.total} ({pct:.1f}%)",
        f"{indent}  greatest absolute difference: {c.max_abs:.3g} at index {_fmt_index(c.max_abs_index, c.checked)} "
        f"(up to {c.max_abs_allowed:.3g} allowed)",
        f"{indent}  greatest relative difference: {c.max_rel:.3g} at index {_fmt_index(c.max_rel_index, c.checked)} "
        f"(up to {c.max_rel_allowed:.3g} allowed)",
        f"{indent}  worst margin (error / allowed): {c.margin:.3g} at index {_fmt_index(c.worst_index, c.checked)}: "
        f"{_pair(c.worst_value, c.worst_reference)}",
    ] + ([f"{indent}  checked: {c.checked}"] if c.checked else [])


def _pair(value: float, reference: float) -> str:
    """Both numbers with the fewest digits (10 at least) that tell them apart."""
    for digits in range(10, 18):
        a, b = f"{value:.{digits}g}", f"{reference:.{digits}g}"
        if a != b:
            break
    return f"SUT {a}, oracle {b}"


def _message(r: CaseResult) -> str:
    case = r.case
    head = {
        "pass": "PASS",
        "unsupported": "UNSUPPORTED (the SUT raised NotImplementedError)",
        "timeout": "TIMEOUT: the SUT did not answer in time",
        "crashed": "CRASHED: the SUT's process died",
        "oracle_error": "ORACLE ERROR: an oracle raised (a fault of the harness, not a verdict on the SUT)",
        "no_oracle": "NO ORACLE RAN: nothing was verified",
        "oracle_disagreement": "ORACLE DISAGREEMENT: the oracles disagree among themselves (not a verdict on the SUT)",
        "fail": "FAIL",
    }[r.verdict]
    lines = [f"backprop-crosscheck: {head}"]
    op = ops.get(case["op"]) if ops.is_op(case) else None
    gradients_differ = any(not c.passed and c.tensor != "loss" for c in r.comparisons)
    if op is not None:
        if r.first_divergence == "answer":
            lines.append("  the SUT broke the contract")
        elif r.first_divergence:  # an op's loss is one of its outputs, named like any other
            lines.append(f"  first wrong output (forward's first, then backward's in order): "
                         f"{op.function_of(r.first_divergence)}")
        lines.append(f"  case: op {op.name} ({op.formula}), dims {case['dims']}, {case['dtype']}, "
                     f"scale {case.get('scale')}")
    else:
        if r.first_divergence == "loss" and not gradients_differ and len(r.problems) == 0:
            lines.append("  forward only: the loss differs, every gradient agrees (the forward pass's loss J is wrong)")
        elif r.first_divergence == "loss":
            lines.append("  first divergence: the loss J itself (forward pass): the root cause is in the forward pass")
        elif r.first_divergence == "answer":
            lines.append("  the SUT broke the contract")
        elif r.first_divergence:
            lines.append(f"  first diverging tensor in backward order: {r.first_divergence} (layer {r.layer})")
        lines.append(f"  case: sizes {case['sizes']}, activations {case['activations']}, loss {case['loss']}, "
                     f"layout {case['layout']}, {case['dtype']}, reduction {case['reduction']}, "
                     f"batch {case.get('batch')}, scale {case.get('scale')}")
    lines += [f"  problem: {p}" for p in r.problems]
    if r.output:
        lines.append("  the SUT's last output:")
        lines += [f"    | {line}" for line in r.output.splitlines()]
    if r.extra_keys:
        lines.append(f"  ignored keys the contract does not name: {', '.join(r.extra_keys)}")
    if r.not_checked:
        lines.append(f"  not checked (the SUT does not return them): {', '.join(r.not_checked)}")
    if r.first_divergence and r.first_divergence != "answer":
        for c in r.comparisons:
            if c.tensor == r.first_divergence:
                lines += describe(c)
        agree = sorted({c.against for c in r.comparisons if c.tensor == r.first_divergence and c.passed})
        if agree:
            lines.append(f"  oracles that agree with the SUT on {r.first_divergence}: {', '.join(agree)}")
        later = [k for k in (op.order if op is not None else contract.backward_order(case))
                 if any(c.tensor == k and not c.passed for c in r.comparisons) and k != r.first_divergence]
        if later:
            lines.append(f"  also diverging afterwards: {', '.join(later)}")
    pairs = {}
    for c in r.oracle_pairs:
        pairs.setdefault(c.against, []).append(c)
    if pairs:
        lines.append("  oracles among themselves: " + ", ".join(
            f"{p} {'agree' if all(c.passed for c in cs) else 'DISAGREE'} (worst margin "
            f"{max(c.margin for c in cs):.2g})" for p, cs in pairs.items()))
        for cs in pairs.values():
            for c in cs:
                if not c.passed:
                    lines += describe(c)
    skipped = [f"{n} ({s['reason']})" for n, s in r.oracles.items() if not s["ran"]]
    if skipped:
        lines.append(f"  oracles skipped: {'; '.join(skipped)}")
    lines.append(f"  case JSON: {json.dumps(case, sort_keys=True)}")
    lines.append(f"  reproduce: {r.reproduce()}")
    return "\n".join(lines)

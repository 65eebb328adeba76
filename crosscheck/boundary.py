"""The one place a SUT is called: in this process, or in a child process with time and memory limits.

Nothing else in the harness calls user code. A call is always two calls with the same inputs
(state kept between calls shows in the second answer), each on fresh deep copies of the case,
params, X and Y, with the first answer copied before the second call (a SUT that reuses its
output buffers cannot make the two answers one object). A change to any input is a named
failure. Only the contract's keys come back; extra keys are listed by name.

Isolation (the default) runs the SUT in a child process started with ``python -m
crosscheck.boundary``, a fresh interpreter (never a fork of a process that has loaded torch's or
JAX's threads). The child loads the SUT once and answers calls over a socket; the parent waits
with a deadline and watches the child's resident memory. A hang, an exit, a segfault or a memory
blow-up costs that one call: the child is killed or reaped, the outcome says what happened (with
the exit status or signal and the last lines the SUT printed), and the next call starts a new child.

A call may name functions of the SUT's module to stand in for (``Child.references``, used by
``crosscheck.grade``): for that case the child replaces them with a ``StandIn`` that sends its arguments
back to this process, which runs its own function of that name and returns the answer, so the child
never holds that function's code.
"""

from __future__ import annotations

import copy
import math
import os
import pickle
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection

import numpy as np

OUTCOMES = ("answered", "unsupported", "raised", "mutated", "timeout", "crashed")
DEFAULT_TIMEOUT = 60.0
"""Seconds for one case (both calls): far above what a correct SUT needs on the strategies' sizes
(the slowest example SUT, a per-example Python loop, takes about 20 ms on the largest default case)."""
DEFAULT_MEMORY_MB = 4096
"""Resident memory the SUT's process may hold (an address-space limit would break JAX)."""
LOAD_TIMEOUT = 120.0
"""Seconds to import the SUT in its child process (a SUT may import torch)."""
OUTPUT_TAIL_LINES = 12
POLL = 0.05
OVER_MEMORY = 86
"""The exit status of a SUT's process that stopped itself over its memory limit (``_memory_watch``), which also
prints OVER_MEMORY_SAYS: a SUT that exits with that status on its own is not taken for it."""
OVER_MEMORY_SAYS = "the SUT's process passed its memory limit of"


def limit(text: str, unit: str) -> float:
    """A time or memory limit as given on a command line: a positive, finite number of ``unit``, or a
    ValueError that says why not (the pytest options and the command line both read limits through it)."""
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"must be a number of {unit}, got {text!r}") from None
    if not (value > 0 and math.isfinite(value)):
        raise ValueError(f"must be a positive number of {unit}, got {text!r}")
    return value


@dataclass
class Outcome:
    """What happened when the SUT was called twice on one case."""

    kind: str
    """One of OUTCOMES."""
    first: dict | None = None
    second: dict | None = None
    message: str = ""
    extra_keys: list[str] = field(default_factory=list)
    """Keys of the answer that the contract does not name: ignored, listed once."""
    output: str = ""
    """The last lines the SUT's process printed (crashes and timeouts)."""
    seconds: float = 0.0


def answer_keys(case: dict, m: int) -> list[str]:
    """The keys of an answer the harness compares: the loss and every contract gradient."""
    from crosscheck import contract, ops

    if ops.is_op(case):  # an op case: its row names the outputs, forward's first
        return ops.get(case["op"]).order
    return ["loss", *contract.gradient_shapes(case, m)]


class _Opaque:
    """Stands for an answer value that is not plain data (an object of the SUT's own, a list, ...)."""

    def __init__(self, type_name: str):
        self.type_name = type_name

    def __repr__(self):
        return f"<{self.type_name}>"


PLAIN = (int, float, complex, bool, str, type(None))


def _plain(value):
    """The value as plain data that no later call can change and that carries none of the SUT's code:
    an ndarray (of numbers) copied as a base ndarray, a number or string as it is, anything else a
    stand-in naming its type (what the contract check then reports)."""
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "biufc":
            return _Opaque(f"ndarray of {value.dtype}")
        return np.array(value, subok=False, copy=True)
    if isinstance(value, np.generic) and value.dtype.kind in "biufc":
        return value.dtype.type(value)
    if type(value) in PLAIN:
        return value
    return _Opaque(type(value).__name__)


def _identical(a, b) -> bool:
    """Are two owned answers (``_own``) the same data, bit for bit (so that one of them can stand for both)?"""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_identical(a[k], b[k]) for k in a)
    if isinstance(a, (np.ndarray, np.generic)):
        return a.dtype == b.dtype and np.shape(a) == np.shape(b) and a.tobytes() == b.tobytes()
    if isinstance(a, _Opaque):
        return a.type_name == b.type_name
    if isinstance(a, (float, complex)):
        return np.array(a).tobytes() == np.array(b).tobytes()  # -0.0 is not 0.0, and NaN is NaN
    return a == b


def _own(answer, keys: list[str]):
    """A plain copy of the answer's contract keys (``_plain``), and the names of its other keys."""
    if not isinstance(answer, dict):
        return _Opaque(type(answer).__name__), []
    out = {key: _plain(answer[key]) for key in keys if key in answer}
    extra = sorted(str(k) for k in answer if k not in keys)
    return out, extra


def _mutation(name: str, before, after) -> str | None:
    """How ``after`` differs from ``before`` (an input the SUT was handed), or None."""
    if isinstance(before, np.ndarray):
        if not isinstance(after, np.ndarray) or after.shape != before.shape or after.dtype != before.dtype:
            return f"the SUT replaced or reshaped its input {name} in place"
        if before.tobytes() == after.tobytes():
            return None  # the same bits (the common case, decided without NumPy's comparison)
        if not np.array_equal(before, after, equal_nan=True):
            return f"the SUT changed its input {name} in place"
        return None
    if isinstance(before, dict):
        if not isinstance(after, dict):
            return f"the SUT replaced its input {name}"
        for key in before:
            if key not in after:
                return f"the SUT removed {name}[{key!r}] from its input"
            problem = _mutation(f"{name}[{key!r}]", before[key], after[key])
            if problem:
                return problem
        added = [k for k in after if k not in before]
        if added:
            return f"the SUT added {name}[{added[0]!r}] to its input"
        return None
    if isinstance(before, (list, tuple)):
        if type(after) is not type(before) or len(after) != len(before):
            return f"the SUT changed its input {name} in place ({before!r} -> {after!r})"
        for i, (a, b) in enumerate(zip(before, after, strict=True)):
            problem = _mutation(f"{name}[{i}]", a, b)
            if problem:
                return problem
        return None
    if type(after) is not type(before) or after != before:
        return f"the SUT changed its input {name} in place ({before!r} -> {after!r})"
    return None


def _fresh(value):
    """A deep copy of plain data (a case: dicts, lists, strings, numbers), made without ``copy.deepcopy``'s
    bookkeeping; anything else is deep-copied."""
    if isinstance(value, dict):
        return {k: _fresh(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_fresh(v) for v in value]
    if value is None or type(value) in (str, int, float, bool):
        return value
    return copy.deepcopy(value)


def call_twice(fn, case: dict, params: dict, X: np.ndarray, Y: np.ndarray) -> Outcome:
    """Call ``fn`` twice on fresh copies and say what happened (runs where the SUT lives). Each call's copies are
    compared afterwards with the inputs given here, which the SUT never holds."""
    start = time.perf_counter()
    m = X.shape[1] if case.get("layout") == "columns" else X.shape[0]  # an op case: X is empty, unused
    keys = answer_keys(case, m)
    pristine = (case, params, X, Y)
    answers, extra = [], []
    for call in range(2):
        given = (_fresh(case), {k: v.copy() for k, v in params.items()}, X.copy(), Y.copy())
        try:
            raw = fn(*given)
        except NotImplementedError as exc:
            if call:  # declining a case it has just answered is not declining it
                return Outcome("raised", message=f"the SUT answered the first call and raised NotImplementedError "
                               f"on the second, with the same inputs: {exc}", seconds=time.perf_counter() - start)
            return Outcome("unsupported", message=f"NotImplementedError: {exc}", seconds=time.perf_counter() - start)
        except SystemExit as exc:
            return Outcome("crashed", message=f"the SUT called sys.exit({exc.code!r})",
                           seconds=time.perf_counter() - start)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # noqa: BLE001  (whatever the SUT raises is its verdict)
            tb = traceback.format_exception(type(exc), exc, exc.__traceback__)
            where = [line for line in tb if line.startswith("  File ")]
            return Outcome("raised", message=f"SUT raised {type(exc).__name__}: {exc}",
                           output="".join(where[-3:] + tb[-1:]).rstrip(), seconds=time.perf_counter() - start)
        for name, before, after in zip(("case", "params", "X", "Y"), pristine, given, strict=True):
            problem = _mutation(name, before, after)
            if problem:
                return Outcome("mutated", message=problem, seconds=time.perf_counter() - start)
        owned, extra = _own(raw, keys)
        answers.append(owned)
    first, second = answers
    if _identical(first, second):
        first = second  # one object: it crosses the boundary once, and is held to the contract once
    return Outcome("answered", first, second, extra_keys=extra, seconds=time.perf_counter() - start)


# ---------------------------------------------------------------------------------------------
# the child process


def _orphan_watch() -> None:
    """End the child when its parent dies (a killed run must not leave a spinning SUT behind)."""
    parent = os.getppid()
    try:  # Linux: the kernel sends SIGKILL when the parent goes
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:  # noqa: BLE001
        pass

    def watch():
        while True:
            time.sleep(0.5)
            if os.getppid() != parent:
                os._exit(70)

    threading.Thread(target=watch, daemon=True).start()


def _memory_watch(memory_mb: float) -> None:
    """End this process when its resident memory passes the limit, checked every POLL seconds. The parent watches
    too, but only while it waits for an answer, and it runs the oracles first (``crosscheck.check``): a SUT that
    grows without end while they run (a first case's JAX compilation takes seconds) is stopped here."""

    def watch():
        me = os.getpid()
        while True:
            time.sleep(POLL)
            if _rss_mb(me) > memory_mb:
                print(f"{OVER_MEMORY_SAYS} {memory_mb:g} MiB resident and stopped itself", file=sys.stderr, flush=True)
                os._exit(OVER_MEMORY)

    threading.Thread(target=watch, name="crosscheck-memory-watch", daemon=True).start()


def _peak_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


_ABSENT = object()


class StandIn:
    """A function of the SUT's module replaced, for the calls of one case, by a call back to the parent,
    which runs its own function of that name (a grader's reference solution) and sends the answer back:
    the SUT's process never holds the reference's code. Arguments and answers cross as plain data."""

    def __init__(self, conn: Connection, name: str):
        self.conn, self.name = conn, name

    def __call__(self, *args):
        try:
            plain = _plain_args(args)
        except TypeError as exc:
            raise TypeError(f"the arguments given to {self.name} are not plain data: {exc}") from None
        self.conn.send(("callback", self.name, plain))
        kind, value = self.conn.recv()
        if kind != "reply":
            raise RuntimeError(f"the reference {self.name} failed on these arguments: {value}")
        return value


def _plain_args(value):
    """``value`` as plain data (``_plain`` through tuples, lists and dicts); TypeError naming what is not."""
    if isinstance(value, (tuple, list)):
        items = [_plain_args(v) for v in value]
        return tuple(items) if isinstance(value, tuple) else items
    if isinstance(value, dict):
        return {_plain_args(k): _plain_args(v) for k, v in value.items()}
    out = _plain(value)
    if isinstance(out, _Opaque):
        raise TypeError(f"a {out.type_name}")
    return out


def _serve(fd: int, spec: str, convention: str, memory_mb: float, names: str = "") -> None:
    import faulthandler
    import json

    faulthandler.enable()  # a segfault prints the SUT's Python stack into the output tail
    _orphan_watch()
    conn, me = Connection(fd), os.getpid()
    from crosscheck import sut as _sut

    try:
        loaded = _sut.load_here(spec, convention, names)
        supports = json.loads(json.dumps(loaded.supports))  # plain data, whatever the SUT declared
    except Exception as exc:  # noqa: BLE001
        conn.send(("error", str(exc)))
        return
    module = loaded.module  # where stand-ins go (a module of functions; None for a single function)
    if memory_mb:
        _memory_watch(memory_mb)
    conn.send(("ready", supports))
    while True:
        try:
            number, case, params, X, Y, *rest = conn.recv()
        except EOFError:
            return
        stand_ins = rest[0] if rest else ()
        saved = {name: module.__dict__.get(name, _ABSENT) for name in stand_ins} if module is not None else {}
        for name in saved:
            setattr(module, name, StandIn(conn, name))
        try:
            outcome = call_twice(loaded.backprop, case, params, X, Y)
        finally:
            for name, value in saved.items():
                if value is _ABSENT:
                    module.__dict__.pop(name, None)
                else:
                    setattr(module, name, value)
        if os.getpid() != me:  # a copy the SUT forked must not answer in the child's place
            os._exit(0)
        if memory_mb and _peak_mb() > memory_mb:  # a peak the parent's sampling may have missed
            outcome = Outcome("crashed", message=f"the SUT's process went over the memory limit of {memory_mb:g} "
                              f"MiB resident (--case-memory) during the case (peak {_peak_mb():.0f} MiB)",
                              seconds=outcome.seconds)
            conn.send(("outcome", number, outcome))
            os._exit(0)  # the peak stays: a fresh process measures the next case
        conn.send(("outcome", number, outcome))


# ---------------------------------------------------------------------------------------------
# the parent's side


class _SafeUnpickler(pickle.Unpickler):
    """Reads what the child sends without running or importing any of the SUT's code: numpy arrays
    and scalars, builtin data, and the boundary's own two classes."""

    ALLOWED = {
        ("crosscheck.boundary", "Outcome"), ("crosscheck.boundary", "_Opaque"), ("builtins", "complex"),
        ("numpy", "dtype"), ("numpy", "ndarray"),
        *((m, n) for m in ("numpy.core.multiarray", "numpy._core.multiarray") for n in ("_reconstruct", "scalar")),
        *((m, "_frombuffer") for m in ("numpy.core.numeric", "numpy._core.numeric")),
    }

    def find_class(self, module, name):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"{module}.{name} is not plain data")
        return super().find_class(module, name)

    @classmethod
    def loads(cls, data: bytes):
        import io

        return cls(io.BytesIO(data)).load()


class SutLoadFailed(Exception):
    """The SUT could not be loaded in its child process (the message says why)."""


def _signal_name(rc: int) -> str:
    try:
        return signal.Signals(-rc).name
    except ValueError:
        return f"signal {-rc}"


def _rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return 0.0


class Child:
    """A SUT loaded in its own process: ``supports`` once loaded, ``call`` per case.

    The process starts on first use and again after a call that killed it; the log of what it
    printed is truncated at each call, so a crash shows the lines of its own case.
    """

    def __init__(self, spec: str, timeout: float = DEFAULT_TIMEOUT, memory_mb: float = DEFAULT_MEMORY_MB,
                 load_timeout: float = LOAD_TIMEOUT, cwd: str | None = None, convention: str = "contract",
                 names: str = "", references: dict | None = None, wrapper: tuple[str, ...] = ()):
        self.spec, self.timeout, self.memory_mb, self.convention = spec, timeout, memory_mb, convention
        self.names = names
        self.load_timeout, self.cwd = load_timeout, cwd
        self.references = dict(references or {})
        """name -> a function of this process that a call may stand in for the SUT module's own (``StandIn``)."""
        self.wrapper = tuple(wrapper)
        """A command the child's interpreter is started under (``unshare -n``, ``setpriv ...``)."""
        self.supports = None
        self.starts = 0
        self._number = 0
        self._proc = self._conn = self._log = None

    # -- process management
    def start(self) -> None:
        parent, child = socket.socketpair()
        self._log = tempfile.TemporaryFile(mode="a+b")
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        env.pop("PYTEST_XDIST_WORKER", None)
        here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        # the child imports what this process can: the harness, and a SUT given as pkg.module
        path = [here, *(p for p in sys.path if p and os.path.isdir(p))]
        env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(path))
        self._proc = subprocess.Popen(
            [*self.wrapper, sys.executable, "-m", "crosscheck.boundary", str(child.fileno()), self.spec,
             self.convention, str(self.memory_mb or 0), self.names],
            pass_fds=(child.fileno(),), stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
            cwd=self.cwd, env=env, start_new_session=True)
        child.close()
        self._conn = Connection(os.dup(parent.fileno()))
        parent.close()
        self.starts += 1
        status, payload = self._wait(self.load_timeout, loading=True)
        if status != "ok":
            self.close()
            output = f"; it printed:\n{payload.output}" if payload.output else ""
            raise SutLoadFailed(f"--sut {self.spec!r}: {payload.message}{output}")
        kind, value = payload
        if kind == "error":
            self.close()
            raise SutLoadFailed(value)
        self.supports = value

    def close(self) -> None:
        if self._proc is not None:
            try:  # the whole process group: whatever the SUT started goes with it
                os.killpg(self._proc.pid, signal.SIGKILL)
            except OSError:
                pass
            self._proc.wait()
        for thing in (self._conn, self._log):
            if thing is not None:
                thing.close()
        self._proc = self._conn = self._log = None

    def __del__(self):
        try:
            self.close()
        except Exception:  # noqa: BLE001
            pass

    def _tail(self) -> str:
        if self._log is None:
            return ""
        self._log.seek(0, os.SEEK_END)
        size = self._log.tell()
        self._log.seek(max(0, size - 4096))
        lines = self._log.read().decode("utf-8", "replace").splitlines()
        return "\n".join(lines[-OUTPUT_TAIL_LINES:])

    def _wait(self, limit: float, loading: bool = False, stated: float | None = None):
        """("ok", message) or ("dead", Outcome) once the child answers, dies, hangs or grows too big."""
        start = time.perf_counter()
        stated = limit if stated is None else stated
        what = "importing the SUT" if loading else "the case"
        polled = False  # an answer already waiting, or a death, is read before any timeout is declared
        while True:
            left = limit - (time.perf_counter() - start)
            if left <= 0 and polled:
                output = self._tail()
                self.close()
                return "dead", Outcome("timeout", message=f"{what} took longer than the {stated:g} s time limit "
                                       f"(--case-timeout); the SUT's process was killed", output=output,
                                       seconds=time.perf_counter() - start)
            try:
                ready = self._conn.poll(max(0.0, min(left, POLL)))
                polled = True
                message = _SafeUnpickler.loads(self._conn.recv_bytes()) if ready else None
            except (EOFError, OSError):
                ready, message = True, None
            except Exception as exc:  # noqa: BLE001  (what the child sent is not plain data)
                output = self._tail()
                self.close()
                return "dead", Outcome("crashed", message=f"the SUT's process sent an answer that cannot be read "
                                       f"safely ({type(exc).__name__}: {exc})", output=output)
            if message is not None:
                return "ok", message
            if ready or self._proc.poll() is not None:
                rc = self._proc.wait()
                output = self._tail()
                self.close()
                how = f"was killed by {_signal_name(rc)}" if rc < 0 else f"exited with status {rc}"
                if rc == OVER_MEMORY and self.memory_mb and OVER_MEMORY_SAYS in output:
                    how = (f"went over the memory limit of {self.memory_mb:g} MiB resident (--case-memory) and "
                           f"stopped itself (status {rc})")
                return "dead", Outcome("crashed", message=f"the SUT's process {how} during {what}",
                                       output=output, seconds=time.perf_counter() - start)
            if self.memory_mb and _rss_mb(self._proc.pid) > self.memory_mb:
                output = self._tail()
                self.close()
                return "dead", Outcome("crashed", message=f"the SUT's process went over the memory limit of "
                                       f"{self.memory_mb:g} MiB resident (--case-memory) during {what} and was killed",
                                       output=output, seconds=time.perf_counter() - start)

    # -- calls
    def call(self, case: dict, params: dict, X: np.ndarray, Y: np.ndarray, stand_ins: tuple[str, ...] = ()) -> Outcome:
        """The SUT's outcome on one case; ``stand_ins`` names functions of the SUT's module that this process's
        ``references`` replace for this case (the child calls back for them)."""
        return self.begin(case, params, X, Y, stand_ins)()

    def begin(self, case: dict, params: dict, X: np.ndarray, Y: np.ndarray,
              stand_ins: tuple[str, ...] = ()) -> Callable[[], Outcome]:
        """Send one case to the child and return the function that waits for its outcome (``call``, in two
        halves): this process may work while the SUT does. The case's time limit runs from the send."""
        unknown = [n for n in stand_ins if n not in self.references]
        if unknown:
            raise ValueError(f"no reference function for stand-in {', '.join(unknown)}")
        if self._proc is not None and self._proc.poll() is not None:
            self.close()  # it died after answering the last case: that is no fault of this one
        if self._proc is None:
            self.start()
        self._log.truncate(0)
        self._number += 1
        number = self._number
        try:
            self._conn.send((number, case, params, X, Y, tuple(stand_ins)))
        except OSError:
            output = self._tail()
            self.close()
            failed = Outcome("crashed", message="the SUT's process closed its end before the case was sent",
                             output=output)
            return lambda: failed
        sent = time.perf_counter()

        def outcome() -> Outcome:
            while True:  # answers to earlier requests (a forked copy's, say) are dropped
                status, payload = self._wait(self.timeout - (time.perf_counter() - sent), stated=self.timeout)
                if status == "dead":
                    return payload
                if payload[0] == "callback" and payload[1] in stand_ins:
                    self._answer_callback(payload[1], payload[2])
                elif payload[0] == "outcome" and payload[1] == number:
                    got = payload[2]
                    if got.seconds > self.timeout:  # it answered past its limit while this process was busy
                        return Outcome("timeout", message=f"the case took longer than the {self.timeout:g} s time "
                                       f"limit (--case-timeout): the SUT answered after {got.seconds:.1f} s",
                                       output=self._tail(), seconds=got.seconds)
                    return got

        return outcome

    def _answer_callback(self, name: str, args) -> None:
        """Run this process's reference ``name`` on the child's arguments (plain data) and send back its answer."""
        try:
            reply = ("reply", _plain_args(self.references[name](*args)))
        except Exception as exc:  # noqa: BLE001  (the reference's failure is the child's exception)
            reply = ("error", f"{type(exc).__name__}: {exc}")
        try:
            self._conn.send(reply)
        except OSError:
            pass  # the child is gone: the wait that follows says how


if __name__ == "__main__":
    # serve from the importable module, so that what crosses the boundary pickles as
    # crosscheck.boundary.Outcome, not __main__.Outcome
    from crosscheck import boundary as _module

    _module._serve(int(sys.argv[1]), sys.argv[2], sys.argv[3], float(sys.argv[4]), *sys.argv[5:6])

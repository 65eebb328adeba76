"""The results file: how a run writes it so that it cannot lie, and how readers judge it.

A run (``pytest --results FILE``) writes, in order:

1. at start, FILE holding one ``run_start`` record (the run's identity), under a lock
   (``FILE.lock``) that a second run on the same file is refused;
2. while it runs, each process appends its records, line by line and flushed, to its own part
   file ``FILE.<worker>.part`` (``main`` for the process without xdist workers);
3. at the end, the ``run_start`` record, every part and a closing ``run`` record (exit status,
   interrupted or not, how many tests ran, how many cases were checked, unsupported, crashed and
   timed out) are written to a temporary file that replaces FILE, and the parts are removed.

So a run that was killed leaves FILE with its ``run_start`` record only and its parts beside it;
one that was interrupted has ``completed: false`` in its ``run`` record. ``read`` finds the
parts itself and ``status`` says INCOMPLETE for an empty, truncated, interrupted or never-merged
file, and FAIL for a run whose exit status (pytest's, or the command's) was not 0: ``summary`` and the report never
call such a file a pass.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

START, END = "run_start", "run"
LOCK_SUFFIX = ".lock"


PART = re.compile(r"\.(main|gw\d+)\.part")


def parts_of(path: Path) -> list[Path]:
    """The part files a run writes beside ``path`` (left behind when it was killed): exactly
    ``NAME.main.part`` and ``NAME.gwN.part``, never another file's parts."""
    path = Path(path)
    if not path.parent.is_dir():
        return []
    return sorted(p for p in path.parent.iterdir() if p.name.startswith(path.name + ".")
                  and PART.fullmatch(p.name[len(path.name):]))


@dataclass
class FileStatus:
    path: str
    complete: bool
    """The run finished and merged its parts."""
    reasons: list[str] = field(default_factory=list)
    """Why it is incomplete or failed, in words."""
    exitstatus: int | None = None
    bad_lines: int = 0
    parts: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.complete and not self.reasons

    def headline(self) -> str:
        if not self.complete:
            return f"INCOMPLETE: {self.path}: " + "; ".join(self.reasons)
        if self.reasons:
            return f"FAIL: {self.path}: " + "; ".join(self.reasons)
        return f"complete: {self.path}"


@dataclass
class Read:
    records: list[dict]
    files: list[FileStatus]

    @property
    def complete(self) -> bool:
        return all(f.complete for f in self.files)


def _lines(path: Path):
    """(record or None) for every non-blank line; None for a line that is not a JSON object."""
    with open(path, "rb") as f:
        for raw in f:
            if not raw.strip():
                continue
            try:
                record = json.loads(raw)
            except ValueError:
                yield None
                continue
            yield record if isinstance(record, dict) else None


def judge(path: Path, records, bad_lines: int, parts: list[Path], n_records: int | None = None) -> FileStatus:
    """The status of one results file from its records (see the module docstring); ``records`` may
    hold the run records alone when ``n_records`` says how many records there were in all."""
    status = FileStatus(str(path), True, bad_lines=bad_lines, parts=[str(p) for p in parts])
    starts = [r for r in records if r.get("kind") == START]
    ends = [r for r in records if r.get("kind") == END]
    incomplete = []
    if not (len(records) if n_records is None else n_records):
        incomplete.append("the file holds no record")
    elif not ends:
        incomplete.append("no closing run record: the run did not finish (killed, crashed or still running)")
    if parts:
        incomplete.append(f"{len(parts)} part file(s) beside it were never merged (read here: "
                          + ", ".join(Path(p).name for p in parts) + ")")
    for end in ends:
        if end.get("completed") is False or end.get("interrupted"):
            incomplete.append(f"the run was interrupted ({_runner(end)} exit status {end.get('exitstatus')})")
    if len(starts) > len(ends) and ends:
        incomplete.append("a run started that has no closing record")
    if bad_lines:
        incomplete.append(f"{bad_lines} line(s) are truncated or not JSON records (skipped)")
    if incomplete:
        status.complete, status.reasons = False, incomplete
        return status
    for end in ends:
        code = end.get("exitstatus")
        if code is not None:
            status.exitstatus = code
            if code != 0:
                status.reasons.append(f"the run ended with {_runner(end)} exit status {code}")
    return status


def _runner(end: dict) -> str:
    """What wrote a run: pytest, or the command its closing record names (``hunt``)."""
    command = end.get("command")
    return f"`python -m crosscheck {command}`" if isinstance(command, str) and command else "pytest"


def read(paths) -> Read:
    """Every record of the given files and of their parts, and each file's status."""
    records, files = [], []
    for path in map(Path, paths):
        parts = parts_of(path)
        mine, bad = [], 0
        for source in [path, *parts]:
            for record in _lines(source):
                if record is None:
                    bad += 1
                else:
                    mine.append(record)
        files.append(judge(path, mine, bad, parts))
        records += mine
    return Read(records, files)


def cases(records, sut: str | None = None) -> list[dict]:
    return [r for r in records if r.get("kind", "case") == "case" and sut in (None, r.get("sut"))]


def counts(records) -> Counter:
    """Verdicts of the generate-phase (and untagged) case records: shrink and replay runs of a failing
    example are re-runs of one case, biased towards the failure, so they are not counted."""
    return Counter(r.get("verdict") for r in records if r.get("phase") in (None, "generate", "explicit"))


class Locked(Exception):
    """Another run holds the results file."""


class Lock:
    """An exclusive lock on a results file for the length of a run (released if the run dies)."""

    def __init__(self, path: Path):
        self.path = Path(str(path) + LOCK_SUFFIX)
        self._f = None

    def acquire(self, who: str) -> None:
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            f = open(self.path, "a+")
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                f.seek(0)
                other = f.read().strip() or "another process"
                f.close()
                raise Locked(other) from None
            try:  # the lock is on the file the path names now, not on one a finishing run unlinked
                if os.stat(self.path).st_ino == os.fstat(f.fileno()).st_ino:
                    break
            except FileNotFoundError:
                pass
            f.close()
        f.seek(0)
        f.truncate()
        f.write(who)
        f.flush()
        self._f = f

    def release(self) -> None:
        if self._f is not None:
            try:  # unlinked while still held, so no other run can lock the old file
                os.unlink(self.path)
            except OSError:
                pass
            self._f.close()
            self._f = None

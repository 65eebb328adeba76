"""How long grading a class takes: N submissions of examples/course, graded in parallel on the cores.

    python benchmarks/grade_class.py                       # 100 submissions, every core
    python benchmarks/grade_class.py --submissions 40 -j 2

The class is the example class (examples/course/class: correct, buggy, a notebook, a folder, a hang, a
syntax error, an exit, ...) copied round-robin to ``--submissions`` entries. The bundle is prepared once
(not timed). Prints the wall time of the whole class, the wall time per submission, each kind's
own grading time (median over its copies), and how much of the hanging submission's time its time
limit explains.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from crosscheck import grade  # noqa: E402

COURSE = ROOT / "examples" / "course"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submissions", type=int, default=100)
    parser.add_argument("-j", "--workers", type=int, default=os.cpu_count())
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        assignment = grade.load_assignment(COURSE / "assignment.toml")
        grade.prepare(assignment, tmp / "bundle", progress=lambda _: None)
        bundle = grade.load_bundle(COURSE / "assignment.toml", tmp / "bundle")
        originals = grade.submissions(COURSE / "class")
        klass = tmp / "class"
        klass.mkdir()
        for i in range(args.submissions):
            source = originals[i % len(originals)]
            name = f"{i:03d}_{source.stem}"
            if source.is_dir():
                shutil.copytree(source, klass / name)
            else:
                shutil.copy(source, klass / f"{name}{source.suffix}")
        start = time.perf_counter()
        graded = grade.grade_class(bundle, klass, tmp / "out", args.workers, progress=lambda _: None)
        wall = time.perf_counter() - start
    print(f"{len(graded)} submissions, {args.workers} workers ({os.cpu_count()} cores): {wall:.1f} s wall, "
          f"{wall / len(graded):.2f} s wall per submission")
    kinds: dict[str, list[float]] = {}
    for g in graded:
        kinds.setdefault(g.student.split("_", 1)[1], []).append(g.seconds)
    limit = assignment.case_timeout
    for kind, seconds in sorted(kinds.items()):
        note = f"  (its case time limit: {limit:g} s)" if kind == "frank" else ""
        print(f"  {kind:8s} {statistics.median(seconds):6.2f} s per submission, median of {len(seconds)}{note}")


if __name__ == "__main__":
    main()

"""How long the HTML report takes, and how big it gets, on 10,000 case records (target: <= 10 s, <= 20 MB).

    python benchmarks/report_scale.py                          # real records made here, replicated
    python benchmarks/report_scale.py green.jsonl red.jsonl    # records of real runs, replicated
    python benchmarks/report_scale.py --envs 2                 # the same cases in two environments

The records are real: a handful of cases checked by ``crosscheck.check`` with every oracle (or the
case records of the given results files), against the reference implementation and the
sigmoid-at-A bug. They are replicated to ``--records`` lines, each with its own seed (so every case
is distinct), a fraction ``--failing`` of them failing, and written as the plugin writes them (a
passing case's record compact, a failing one's full: ``CaseResult.record``).
Only ``build_report`` is timed.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from crosscheck import activations, check, losses, problems, sut  # noqa: E402
from reports import data  # noqa: E402
from reports.build import build_report  # noqa: E402

SUTS = ("reference_impl:backprop", f"{ROOT / 'examples' / 'suts' / 'buggy_sigmoid_at_a.py'}:backprop")
SEED = "__SEED__"


def sample_cases(n: int, rng: np.random.Generator) -> list[dict]:
    """n valid cases, most with a sigmoid layer (which the buggy SUT gets wrong)."""
    out = []
    for _ in range(n):
        loss = str(rng.choice(losses.NAMES))
        outputs = losses.get(loss).outputs or activations.NAMES
        last = str(rng.choice(outputs))
        depth = int(rng.integers(1, 4))
        hidden = [str(rng.choice(["sigmoid", "tanh", "relu", "elu", "identity"])) for _ in range(depth - 1)]
        least = 2 if last == "softmax" or losses.get(loss).targets == "onehot" else 1
        sizes = [int(s) for s in rng.integers(1, 9, depth)] + [int(rng.integers(least, 9))]
        out.append({"contract_version": "1.0", "sizes": sizes, "activations": hidden + [last], "loss": loss,
                    "layout": str(rng.choice(["rows", "columns"])), "dtype": str(rng.choice(["float64", "float32"])),
                    "reduction": str(rng.choice(["mean", "sum"])), "batch": int(rng.integers(1, 17)),
                    "seed": int(rng.integers(0, 2**31)), "scale": str(rng.choice(["small", "unit", "large"]))})
    return out


def make_sample(n: int) -> list[dict]:
    rng = np.random.default_rng(2026)
    records = []
    loaded = [sut.load(spec, isolation="none") for spec in SUTS]  # the harness's cost, not isolation's
    for case in sample_cases(n, rng):
        problem = problems.build(case)
        for system in loaded:
            result = check.check(problem, system)
            records.append({"test": "tests/test_crosscheck.py::test_gradients_agree_with_oracles[sample]",
                            "worker": "gw0", "kind": "case", "env": "bench", **result.record()})
    return records


def template(record: dict) -> str:
    """The record as the plugin writes it, its seed replaced by a marker (in the case and in the
    reproduce command)."""
    line = json.dumps(record, sort_keys=True)
    seed = record["case"]["seed"]
    line = re.sub(rf'(\\?"seed\\?": ){seed}\b', rf"\g<1>{SEED}", line)
    assert line.count(SEED) == 1 + ("reproduce" in record), "the seed appears in the case and in a reproduce command"
    return line


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="*", help="results files whose case records to replicate")
    parser.add_argument("--records", type=int, default=10_000, help="case records in all (default %(default)s)")
    parser.add_argument("--failing", type=float, default=0.2, help="fraction of failing records (default %(default)s)")
    parser.add_argument("--envs", type=int, default=1, help="environments (files) sharing the cases (default 1)")
    parser.add_argument("--sample", type=int, default=24, help="cases to check when no results file is given")
    parser.add_argument("--keep", metavar="DIR", help="keep the records and the report in DIR")
    args = parser.parse_args(argv)

    if args.results:
        records = [json.loads(x) for path in args.results for x in open(path) if x.strip()]
        records = [r for r in records if r.get("kind") == "case"]
    else:
        start = time.perf_counter()
        records = make_sample(args.sample)
        print(f"sample: {len(records)} records checked in {time.perf_counter() - start:.1f} s")
    failing = [template(r) for r in records if r["verdict"] in data.FAILING]
    passing = [template(r) for r in records if r["verdict"] not in data.FAILING]
    if not failing or not passing:
        parser.error("the records need both failing and passing cases to replicate")

    folder = Path(args.keep or tempfile.mkdtemp(prefix="report_scale_"))
    folder.mkdir(parents=True, exist_ok=True)
    per_env = args.records // args.envs
    paths = []
    for e in range(args.envs):
        path = folder / f"env{e}.jsonl"
        with open(path, "w") as f:
            for k in range(per_env):
                pool = failing if (k * 7919) % 1000 < args.failing * 1000 else passing
                line = pool[k % len(pool)].replace(SEED, str(1_000_000 + k))
                f.write(line.replace('"env": "', f'"env": "env{e}-', 1) + "\n")
        paths.append(path)
    size_in = sum(p.stat().st_size for p in paths)
    out = folder / "report.html"
    start = time.perf_counter()
    loaded = data.load([str(p) for p in paths])
    load_s = time.perf_counter() - start
    start = time.perf_counter()
    build_report([str(p) for p in paths], out)
    build_s = time.perf_counter() - start
    n_failing = sum(c.failing for c in loaded.cases)
    print(f"records: {len(loaded.cases)} case records ({n_failing} failing) in {args.envs} file(s), "
          f"{size_in / 1e6:.0f} MB of JSON lines")
    print(f"build_report: {build_s:.2f} s (of which loading the records: {load_s:.2f} s; lines read by the "
          f"loader's fast path: {loaded.parsed['fast']}, parsed whole: {loaded.parsed['slow']})")
    print(f"report: {out.stat().st_size / 1e6:.2f} MB")
    if not args.keep:
        for p in paths + [out]:
            p.unlink()
        folder.rmdir()
    return 0


if __name__ == "__main__":
    sys.exit(main())

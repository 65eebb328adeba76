"""Command line.

``python -m crosscheck reproduce --sut SPEC 'CASE_JSON'`` rebuilds a case's arrays from its JSON
(the seed makes them exact), runs the SUT and every oracle, and prints the same report the test
printed; exit status 0 on pass, 1 otherwise.

``python -m crosscheck summary RESULTS.jsonl [--sut SPEC] [--min-cases N] [--require-oracles torch,jax,fd]``
counts verdicts and oracle runs in a results file; exit status 1 if any case failed, or if fewer
than N cases were checked in full (every entry, not a sampled case's probes) by every required oracle.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter

from crosscheck import check, problems, sut
from oracles import ORACLES


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m crosscheck", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    rep = commands.add_parser("reproduce", help="re-run one case from its JSON")
    rep.add_argument("case", help="the case JSON printed by a failing test (or @file.json)")
    rep.add_argument("--sut", default=sut.DEFAULT, help="pkg.module:func or path/to/file.py:func")
    rep.add_argument("--oracles", default=",".join(ORACLES), help="comma-separated oracle names")
    rep.add_argument("--json", action="store_true", help="print the result record as JSON instead")
    summ = commands.add_parser("summary", help="count the verdicts in results files")
    summ.add_argument("results", nargs="+", help="JSONL files written by pytest --results")
    summ.add_argument("--min-cases", type=int, default=0, help="fail unless this many cases ran every required oracle")
    summ.add_argument("--require-oracles", default="", help="comma-separated oracles each counted case must have run")
    summ.add_argument("--sut", default=None, help="count only the cases of this SUT spec")
    args = parser.parse_args(argv)
    if args.command == "summary":
        return _summary(args)

    text = open(args.case[1:]).read() if args.case.startswith("@") else args.case
    try:
        case = json.loads(text)
        problem = problems.build(case)
        loaded = sut.load(args.sut)
    except (json.JSONDecodeError, ValueError) as exc:
        parser.error(str(exc))
    names = [n.strip() for n in args.oracles.split(",") if n.strip()]
    unknown = [n for n in names if n not in ORACLES]
    if unknown:
        parser.error(f"unknown oracles {unknown}; valid: {', '.join(ORACLES)}")
    result = check.check(problem, loaded, names)
    print(json.dumps(result.to_json(), indent=2, sort_keys=True) if args.json else result.message())
    return 1 if result.failed else 0


def _summary(args) -> int:
    records = [json.loads(line) for path in args.results for line in open(path) if line.strip()]
    records = [r for r in records if r.get("kind", "case") == "case" and args.sut in (None, r["sut"])]
    verdicts = Counter(r["verdict"] for r in records)
    ran = Counter(name for r in records for name, s in r["oracles"].items() if s["ran"])
    probed = Counter(name for r in records for name in r.get("probed", []))
    required = [n.strip() for n in args.require_oracles.split(",") if n.strip()]
    # a sampled case's probes check some entries: only full answers count towards --min-cases
    full = sum(all(r["oracles"].get(n, {}).get("ran") and n not in r.get("probed", []) for n in required)
               for r in records)
    print(f"{len(records)} cases: " + ", ".join(f"{n} {v}" for v, n in sorted(verdicts.items())))
    print("oracle runs: " + ", ".join(f"{n} {c}" + (f" ({probed[n]} probes only)" if probed[n] else "")
                                      for n, c in sorted(ran.items())))
    if required:
        print(f"cases checked in full by every one of {', '.join(required)}: {full}")
    failing = sum(verdicts[v] for v in check.FAILING)
    if failing:
        print(f"{failing} failing case(s)")
        return 1
    if full < args.min_cases:
        print(f"fewer than {args.min_cases} cases were checked by every required oracle")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

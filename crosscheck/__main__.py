"""Command line: ``python -m crosscheck reproduce --sut SPEC 'CASE_JSON'``.

Rebuilds the case's arrays from its JSON (the seed makes them exact), runs the SUT and every
oracle, and prints the same report the test printed. Exit status 0 on pass, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys

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
    args = parser.parse_args(argv)

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


if __name__ == "__main__":
    sys.exit(main())

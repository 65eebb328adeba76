"""Command line: ``python -m reports build RESULTS.jsonl [MORE.jsonl ...] -o report.html [--timestamp]``.

Builds one self-contained HTML report from results files written by ``pytest --results``; several
files (one per environment, ``--env LABEL``) give one summary column each and a comparison of the
cases they share.
"""

from __future__ import annotations

import argparse
import sys
import time

from reports.build import build_report


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reports", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser("build", help="build the HTML report from results files")
    build.add_argument("results", nargs="+", help="JSONL files written by pytest --results")
    build.add_argument("-o", "--output", default="report.html", help="the HTML file to write (default %(default)s)")
    build.add_argument("--timestamp", action="store_true",
                       help="write the build time into the report (the report is otherwise byte-identical "
                            "for the same inputs)")
    args = parser.parse_args(argv)
    for path in args.results:
        try:
            open(path, "rb").close()
        except OSError as exc:
            parser.error(f"cannot read {path}: {exc.strerror}")
    start = time.perf_counter()
    out = build_report(args.results, args.output, timestamp=args.timestamp)
    print(f"report: {out} ({out.stat().st_size / 1e6:.1f} MB, {time.perf_counter() - start:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

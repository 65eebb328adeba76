"""How many bytes a case record takes in a results file: the median and the largest, passing and failing apart.

    python benchmarks/record_size.py RESULTS.jsonl [MORE.jsonl ...]

A passing case's record is compact (``crosscheck.check.CaseResult.record``): at most 2 kB. A failing one
keeps every comparison, the per-entry errors and the first diverging tensors.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from crosscheck.check import FAILING  # noqa: E402


def sizes(paths) -> dict[str, list[int]]:
    """'passing' and 'failing' -> the byte length of each case record (its line, newline included)."""
    out: dict[str, list[int]] = {"passing": [], "failing": []}
    for path in paths:
        with open(path, "rb") as f:
            for line in f:
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                if isinstance(record, dict) and record.get("kind", "case") == "case":
                    out["failing" if record.get("verdict") in FAILING else "passing"].append(len(line))
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="+", help="JSONL files written by pytest --results")
    args = parser.parse_args(argv)
    found = sizes(args.results)
    for kind, n in found.items():
        if n:
            print(f"{kind}: {len(n)} records, median {statistics.median(n):,.0f} bytes, max {max(n):,} bytes, "
                  f"{sum(n) / 1e6:.2f} MB in all")
        else:
            print(f"{kind}: no records")
    return 0


if __name__ == "__main__":
    sys.exit(main())

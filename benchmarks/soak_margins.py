"""Summarise a soak's results file: verdicts and the largest margin (error / allowed) per dtype and
oracle, i.e. how close the correct implementation came to a false alarm. Comparisons against a
sampled case's probes are listed apart, as "ORACLE (probes)".

    python benchmarks/soak_margins.py soak.jsonl
    python benchmarks/soak_margins.py --by-op layers_s1.jsonl layers_s2.jsonl   # a layer soak, op by op
"""

import json
import sys
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from crosscheck.check import record_margins  # noqa: E402


def main(paths):
    verdicts = Counter()
    worst = defaultdict(float)
    for path in paths:
        for line in open(path):
            r = json.loads(line)
            if r.get("kind", "case") != "case":
                continue
            verdicts[(r["case"]["dtype"], r["verdict"])] += 1
            margins, pairs = record_margins(r)  # a compact record or a full one
            probed = set(r.get("probed") or [])
            for against, m in [(o, max(by.values(), default=0.0)) for o, by in margins.items()] + list(pairs.items()):
                key = (r["case"]["dtype"], against + (" (probes)" if probed & set(against.split("~")) else ""))
                worst[key] = max(worst[key], m)
    print("| dtype | verdicts |")
    print("|---|---|")
    for dtype in sorted({d for d, _ in verdicts}):
        print(f"| {dtype} | " + ", ".join(f"{n} {v}" for (d, v), n in sorted(verdicts.items()) if d == dtype) + " |")
    print("\n| dtype | compared with | largest margin |")
    print("|---|---|---|")
    for (dtype, against), m in sorted(worst.items()):
        print(f"| {dtype} | {against} | {m:.3g} |")


def by_op(paths):
    """One row per layer op and dtype: generate-phase cases, failures, and the largest margin of the SUT
    against any oracle and between the oracles."""
    rows = defaultdict(lambda: [0, 0, 0.0, 0.0])
    for path in paths:
        for line in open(path):
            r = json.loads(line)
            if r.get("kind", "case") != "case" or r.get("phase", "generate") != "generate":
                continue
            row = rows[(r["case"].get("op", "network"), r["case"]["dtype"])]
            row[0] += 1
            row[1] += r["verdict"] != "pass"
            margins, pairs = record_margins(r)
            row[2] = max([row[2], *(m for by in margins.values() for m in by.values())])
            row[3] = max([row[3], *pairs.values()])
    print("| op | dtype | cases | failures | largest margin, SUT | largest margin, oracles |")
    print("|---|---|---|---|---|---|")
    for (op, dtype), (n, failed, sut, oracles) in sorted(rows.items()):
        print(f"| {op} | {dtype} | {n} | {failed} | {sut:.3g} | {oracles:.3g} |")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--by-op"]:
        by_op(sys.argv[2:])
    else:
        main(sys.argv[1:])

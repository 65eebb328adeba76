"""``python -m mutants [--cases N] [--json FILE] [--oracles fd] [--sample-units K] [--widths MIN,MAX]``:
hunt every catalogue mutant and print the kill matrix. ``--sample-units K --oracles fd --widths 17,64``
hunts in wide networks checked by finite differences' probes alone (docs/sampling.md)."""

import argparse
import json

from mutants.catalogue import CATALOGUE
from mutants.kill import hunt
from oracles import ORACLES


def main():
    parser = argparse.ArgumentParser(prog="python -m mutants", description=__doc__)
    parser.add_argument("--cases", type=int, default=150, help="cases to check per mutant")
    parser.add_argument("--json", help="also write the kill matrix as JSON lines (kind 'mutant') to this file")
    parser.add_argument("--oracles", default=None, help="comma-separated oracles (default: all)")
    parser.add_argument("--sample-units", type=int, default=None, help="make every case sampled, K units a layer")
    parser.add_argument("--widths", default=None, help="MIN,MAX units a layer (default: the strategy's)")
    args = parser.parse_args()
    names = [n.strip() for n in args.oracles.split(",") if n.strip()] if args.oracles else None
    if names is not None and (not names or any(n not in ORACLES for n in names)):
        parser.error(f"--oracles {args.oracles!r}: valid names are {', '.join(ORACLES)}")
    if args.sample_units is not None and args.sample_units < 1:
        parser.error(f"--sample-units must be at least 1, got {args.sample_units}")
    widths = None
    if args.widths:
        try:
            widths = tuple(int(n) for n in args.widths.split(","))
        except ValueError:
            widths = ()
        if len(widths) != 2 or not 1 <= widths[0] <= widths[1]:
            parser.error(f"--widths takes MIN,MAX with 1 <= MIN <= MAX, got {args.widths!r}")
    kills = [hunt(m, args.cases, names, args.sample_units, widths) for m in CATALOGUE]
    options = {"oracles": names, "sample_units": args.sample_units, "widths": widths, "cases_per_mutant": args.cases}
    print("| mutant | bug class | cases that killed it | first kill at case | first diverging tensor | "
          "every kill localized | caught by |")
    print("|---|---|---|---|---|---|---|")
    for k in kills:
        print(f"| `{k.mutant}` | {k.bug_class} | {k.kills} / {k.cases} | {k.first_kill or '**survived**'} | "
              f"{k.first_divergence or '-'} | {'yes' if k.localized else '**no**'} | {', '.join(k.caught_by)} |")
    print(f"\n{sum(k.killed for k in kills)} / {len(kills)} killed, {sum(k.localized for k in kills)} localized")
    if args.json:
        with open(args.json, "w") as f:
            for k in kills:
                f.write(json.dumps({**k.to_json(), "hunt": options}, sort_keys=True) + "\n")
    return 0 if all(k.localized for k in kills) else 1


if __name__ == "__main__":
    raise SystemExit(main())

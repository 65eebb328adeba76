"""``python -m mutants [--cases N] [--json FILE]``: hunt every catalogue mutant and print the kill matrix."""

import argparse
import json

from mutants.catalogue import CATALOGUE
from mutants.kill import hunt


def main():
    parser = argparse.ArgumentParser(prog="python -m mutants", description=__doc__)
    parser.add_argument("--cases", type=int, default=150, help="cases to check per mutant")
    parser.add_argument("--json", help="also write the kill matrix as JSON lines (kind 'mutant') to this file")
    args = parser.parse_args()
    kills = [hunt(m, args.cases) for m in CATALOGUE]
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
                f.write(json.dumps(k.to_json(), sort_keys=True) + "\n")
    return 0 if all(k.localized for k in kills) else 1


if __name__ == "__main__":
    raise SystemExit(main())

"""Command line.

``python -m crosscheck check --sut SPEC [--results F] [-n N] [--profile P] [-- PYTEST ARGS]`` runs
the shipped cross-check tests (``crosscheck.suite``) on the SUT from any directory, and exits as
pytest does.

``python -m crosscheck check --layers FILE --convention cs231n|ng`` checks a module of layer functions
one op at a time (``crosscheck.layer_suite``; docs/layers.md); an op case is reproduced with
``--layers FILE --convention NAME`` in place of ``--sut``.

``python -m crosscheck reproduce --sut SPEC 'CASE_JSON'`` rebuilds a case's arrays from its JSON
(the seed makes them exact), runs the SUT and every oracle, and prints the same report the test
printed; exit status 0 on pass, 1 otherwise, 2 for a case that is not valid.

``python -m crosscheck diagnose RESULTS.jsonl [--json]`` says what the failing cases share and how
the SUT is wrong (``crosscheck.diagnose``).

``python -m crosscheck hunt --sut SPEC [--budget 60s] [--json] [--results F]`` keeps going after the first
failure: it files every failing case under its signatures, shrinks each signature to a minimal case and
diagnoses it (``crosscheck.hunt``); exit status 1 when it found any.

``python -m crosscheck grade --prepare --assignment A.toml --out BUNDLE`` draws an assignment's fixed cases and
writes them with every oracle's answers; ``python -m crosscheck grade SUBMISSION --assignment A.toml`` grades one
submission (a .py file, a notebook or a folder) and ``grade SUBMISSIONS_DIR ... --out DIR`` a class, with NumPy
only (``crosscheck.grade``, docs/grading.md).

``python -m crosscheck summary RESULTS.jsonl [--sut SPEC] [--min-cases N] [--require-oracles torch,jax,fd]``
counts verdicts and oracle runs in a results file (and in the part files a killed run left beside
it); exit status 1 if the run is incomplete or failed, if any case failed, or if fewer than N
cases were checked in full (every entry, not a sampled case's probes) by every required oracle.
Unsupported cases, and shrink and replay re-runs of a failing example, never count.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections import Counter

from crosscheck import boundary, check, contract, conventions, ops, problems, results, sut
from oracles import ORACLES

MAX_ELEMENTS = 10_000_000
"""reproduce refuses a case whose arrays hold more entries than this, unless --max-elements says more."""


def _limit(unit: str):
    def parse(text: str) -> float:
        try:
            return boundary.limit(text, unit)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    return parse


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m crosscheck", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    rep = commands.add_parser("reproduce", help="re-run one case from its JSON")
    rep.add_argument("case", help="the case JSON printed by a failing test (or @file.json)")
    rep.add_argument("--sut", default=sut.DEFAULT, help="pkg.module:func or path/to/file.py:func")
    rep.add_argument("--layers", default=None, help="a module of layer functions (an op case; --convention cs231n "
                                                     "or ng)")
    rep.add_argument("--names", default="", help="with --layers: the module's naming file (docs/layers.md)")
    rep.add_argument("--oracles", default=",".join(ORACLES), help="comma-separated oracle names")
    rep.add_argument("--json", action="store_true", help="print the result record as JSON instead")
    rep.add_argument("--convention", default=conventions.DEFAULT, choices=conventions.NAMES,
                     help="how the SUT's code is written (docs/conventions.md)")
    rep.add_argument("--isolation", default="process", choices=sut.ISOLATION,
                     help="run the SUT in a child process (default) or in this one")
    rep.add_argument("--case-timeout", type=_limit("seconds"), default=boundary.DEFAULT_TIMEOUT, help="seconds")
    rep.add_argument("--case-memory", type=_limit("MiB"), default=boundary.DEFAULT_MEMORY_MB, help="MiB")
    rep.add_argument("--max-elements", type=int, default=MAX_ELEMENTS,
                     help="refuse cases whose arrays hold more entries (default %(default)s)")
    chk = commands.add_parser("check", help="run the cross-check tests on a SUT (exits as pytest does)")
    chk.add_argument("--sut", default=None, help="pkg.module:func or path/to/file.py:func")
    chk.add_argument("--layers", default=None, help="a module of layer functions, checked one op at a time "
                                                     "(--convention cs231n or ng; docs/layers.md)")
    chk.add_argument("--names", default=None, help="with --layers: a naming file for functions with other names "
                                                   "or argument and return orders (docs/layers.md)")
    chk.add_argument("--convention", default=conventions.DEFAULT, choices=conventions.NAMES,
                     help="how the SUT's code is written (docs/conventions.md)")
    chk.add_argument("--results", help="write one JSON record per case to this file")
    chk.add_argument("--report", help="build the HTML report into this file when the run ends")
    chk.add_argument("-n", dest="workers", help="pytest-xdist workers (a number or 'auto')")
    chk.add_argument("--profile", help="Hypothesis profile: smoke, crosscheck-dev, crosscheck-ci, thorough, ...")
    chk.add_argument("--oracles", default=None, help="comma-separated oracle names")
    chk.add_argument("pytest_args", nargs=argparse.REMAINDER, help="anything after -- goes to pytest as it is")
    diag = commands.add_parser("diagnose", help="what the failing cases share, and how the SUT is wrong")
    diag.add_argument("results", nargs="+", help="JSONL files written by pytest --results")
    diag.add_argument("--sut", default=None, help="only the cases of this SUT spec")
    diag.add_argument("--json", action="store_true", help="print the findings as JSON: each SUT's list of findings")
    diag.add_argument("--no-replay", action="store_true", help="do not replay the mutant catalogue on the failures")
    hnt = commands.add_parser("hunt", help="keep going: every distinct bug of a SUT, each shrunk to a minimal case")
    hnt.add_argument("--sut", required=True, help="pkg.module:func or path/to/file.py:func")
    hnt.add_argument("--budget", default="60s", help="how long to search and shrink: 60s, 2m, 90 (default %(default)s)")
    hnt.add_argument("--oracles", default="torch,fd", help="comma-separated oracle names (default %(default)s)")
    hnt.add_argument("--convention", default=conventions.DEFAULT, choices=conventions.NAMES,
                     help="how the SUT's code is written (docs/conventions.md)")
    hnt.add_argument("--isolation", default="process", choices=sut.ISOLATION,
                     help="run the SUT in a child process (default) or in this one")
    hnt.add_argument("--max-cases", type=int, default=None, help="stop the search after this many cases")
    hnt.add_argument("--seed", type=int, default=None, help="draw the same cases on every run")
    hnt.add_argument("--json", action="store_true", help="print the signatures as JSON")
    hnt.add_argument("--results", help="write one JSON record per case checked (generate and shrink phases)")
    hnt.add_argument("--no-replay", action="store_true", help="do not replay the mutant catalogue in the diagnoses")
    summ = commands.add_parser("summary", help="count the verdicts in results files")
    summ.add_argument("results", nargs="+", help="JSONL files written by pytest --results")
    summ.add_argument("--min-cases", type=int, default=0, help="fail unless this many cases ran every required oracle")
    summ.add_argument("--require-oracles", default="", help="comma-separated oracles each counted case must have run")
    summ.add_argument("--sut", default=None, help="count only the cases of this SUT spec")
    grd = commands.add_parser("grade", help="grade a submission or a class against an assignment (docs/grading.md)")
    grd.add_argument("submission", nargs="?", help="a .py file, a .ipynb notebook, a folder, or a folder of them "
                                                   "(with --out: a class)")
    grd.add_argument("--assignment", required=True, help="the assignment file (TOML)")
    grd.add_argument("--prepare", action="store_true", help="generate the cases, run the oracles and write the "
                                                            "bundle into --out (needs torch)")
    grd.add_argument("--bundle", default=None, help="the prepared bundle (default: bundle/ beside the assignment)")
    grd.add_argument("--out", default=None, help="--prepare: the bundle folder; grading: where the feedback goes")
    grd.add_argument("--gradescope", default=None, help="also write Gradescope's results.json here")
    grd.add_argument("--class", dest="is_class", action="store_true",
                     help="SUBMISSION is a folder of submissions (the default for a folder that is not one "
                          "submission, with --out)")
    grd.add_argument("-j", "--workers", type=int, default=None, help="submissions graded at once (default: the cores)")
    args = parser.parse_args(argv)
    parser = commands.choices[args.command]  # an error below prints the subcommand's usage, not the program's
    if args.command == "grade":
        return _grade(parser, args)
    if args.command == "check":
        return _check(parser, args)
    if args.command == "hunt":
        return _hunt(parser, args)
    if args.command in ("summary", "diagnose"):
        for path in args.results:
            try:
                open(path, "rb").close()
            except OSError as exc:
                parser.error(f"cannot read {path}: {exc.strerror}")
        return _summary(args) if args.command == "summary" else _diagnose(args)

    names = [n.strip() for n in args.oracles.split(",") if n.strip()]
    unknown = [n for n in names if n not in ORACLES]
    if unknown or not names:
        parser.error(f"unknown oracles {unknown or 'none given'}; valid: {', '.join(ORACLES)}")
    try:
        text = open(args.case[1:]).read() if args.case.startswith("@") else args.case
    except OSError as exc:
        parser.error(f"cannot read the case file {args.case[1:]!r}: {exc.strerror}")
    spec, convention = args.sut, args.convention
    try:
        case = json.loads(text)
        if ops.is_op(case) or args.layers:
            if not args.layers:
                parser.error("an op case (\"kind\": \"op\") needs --layers FILE")
            spec, convention = args.layers, conventions.for_layers(args.convention)
            row = ops.validate_case(case)
            entries = sum(math.prod(i.shape(ops.sizes(case))) for i in row.inputs)
            if entries > args.max_elements:
                raise contract.ContractError(f"op case dims {case['dims']} need {entries:,} input entries, more "
                                             f"than --max-elements {args.max_elements:,}")
            problem = ops.build(case)
        else:
            _validate(case, args.max_elements)
            problem = problems.build(case)
    except json.JSONDecodeError as exc:
        parser.error(f"the case is not valid JSON: {exc}")
    except ValueError as exc:
        parser.error(str(exc))
    try:
        loaded = sut.load(spec, args.isolation, args.case_timeout, args.case_memory, convention,
                          args.names if args.layers else "")
    except sut.SutLoadError as exc:
        parser.error(str(exc))
    try:
        result = check.check(problem, loaded, names)
    finally:
        loaded.close()
    print(json.dumps(result.to_json(), indent=2, sort_keys=True) if args.json else result.message())
    return 1 if result.failed else 0


def _check(parser, args) -> int:
    """pytest on the shipped suite, rooted where the command runs (never in site-packages)."""
    import importlib.util
    import os
    import subprocess

    if bool(args.sut) == bool(args.layers):
        parser.error("check needs --sut SPEC (a network's backprop) or --layers FILE (layer functions), one of them")
    if args.names and not args.layers:
        parser.error("--names describes the functions of a --layers module; give --layers FILE")
    if args.layers:
        try:
            conventions.for_layers(args.convention)
        except conventions.ConventionError as exc:
            parser.error(str(exc))
        # -rs lists each op the module does not define, with its reason
        cmd = [sys.executable, "-m", "pytest", "--pyargs", "crosscheck.layer_suite", f"--rootdir={os.getcwd()}",
               "-p", "no:cacheprovider", f"--layers={args.layers}", "-rs"]
    else:
        cmd = [sys.executable, "-m", "pytest", "--pyargs", "crosscheck.suite", f"--rootdir={os.getcwd()}",
               "-p", "no:cacheprovider", f"--sut={args.sut}"]
    if args.workers:
        if importlib.util.find_spec("xdist") is None:
            parser.error("-n needs pytest-xdist: pip install pytest-xdist")
        cmd += ["-n", args.workers]
    for flag, value in (("--convention", args.convention), ("--names", args.names), ("--results", args.results),
                        ("--report", args.report), ("--oracles", args.oracles),
                        ("--hypothesis-profile", args.profile)):
        if value:
            cmd.append(f"{flag}={value}")
    extra = args.pytest_args[1:] if args.pytest_args[:1] == ["--"] else args.pytest_args
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    return subprocess.call(cmd + extra, env=env)


def _grade(parser, args) -> int:
    """``grade --prepare`` writes a bundle; ``grade SUBMISSION`` grades one; ``grade DIR --out OUT`` a class.
    Exit status 0 when grading finished (whatever the scores), 2 for a bad assignment or argument."""
    from pathlib import Path

    from crosscheck import grade

    if args.workers is not None and args.workers < 1:
        parser.error(f"-j must be at least 1, got {args.workers}")
    try:
        if args.prepare:
            if not args.out or args.submission:
                parser.error("grade --prepare takes --assignment and --out (the bundle folder), no submission")
            grade.prepare(grade.load_assignment(args.assignment), Path(args.out))
            print(f"bundle written to {args.out} (Gradescope: {Path(args.out) / 'autograder.zip'})")
            return 0
        if not args.submission:
            parser.error("grade needs a SUBMISSION (or --prepare)")
        bundle = grade.load_bundle(args.assignment, args.bundle)
        path = Path(args.submission)
        if not path.exists():
            parser.error(f"submission {args.submission!r} does not exist")
        if args.is_class or (path.is_dir() and not _one_submission(path, bundle)):
            if not args.out:
                parser.error(f"{args.submission} holds {len(grade.submissions(path))} submissions, a class: grading a "
                             f"class needs --out DIR (the class report and each student's results go there)")
            graded = grade.grade_class(bundle, path, Path(args.out), args.workers)
            print(f"class report: {Path(args.out) / 'index.html'} ({len(graded)} submissions)")
            return 0
        graded = grade.grade(bundle, path, args.out, args.gradescope)
    except grade.AssignmentError as exc:
        parser.error(str(exc))
    print(grade.feedback_md(graded))
    return 0


def _one_submission(path, bundle) -> bool:
    """Is a folder one student's submission? Yes when it holds the assignment's module at its top, or (no module
    named) a single .py file or notebook; otherwise it is a class, one submission per entry."""
    from crosscheck import grade

    module = bundle.assignment.module
    if module:
        return (path / module).is_file()
    return len(grade.submissions(path)) <= 1


def _validate(case, max_elements: int) -> None:
    """Raise ValueError naming what is wrong with a case before anything is allocated."""
    contract.validate_case(case)
    for key in ("batch", "seed"):
        value = case.get(key)
        if value is None:
            raise contract.ContractError(f"a generated case needs key {key!r}")
        if isinstance(value, bool) or not isinstance(value, int):
            raise contract.ContractError(f"case[{key!r}] must be an integer, got {value!r}")
    if case["batch"] < 1:
        raise contract.ContractError(f"case['batch'] must be >= 1, got {case['batch']}")
    if not 0 <= case["seed"] < 2**64:
        raise contract.ContractError(f"case['seed'] must be in [0, 2**64), got {case['seed']}")
    sizes, m = case["sizes"], case["batch"]
    # weights and biases, then X, Y and each layer's Z and A
    entries = sum(a * b + b for a, b in zip(sizes, sizes[1:], strict=False)) + m * (sizes[0] + 2 * sum(sizes))
    if entries > max_elements:
        raise contract.ContractError(
            f"case sizes {sizes} with batch {m} need about {entries:,} array entries "
            f"(~{entries * 8 / 2**30:.1f} GiB per copy), more than --max-elements {max_elements:,}")


def _hunt(parser, args) -> int:
    """Signatures of a SUT's failures; exit 1 when there is any (or when no case could be checked), 0 otherwise."""
    import os
    import time

    from crosscheck import hunt

    try:
        budget = hunt.parse_budget(args.budget)
    except ValueError as exc:
        parser.error(str(exc))
    if args.max_cases is not None and args.max_cases < 1:
        parser.error(f"--max-cases must be at least 1, got {args.max_cases}")
    names = [n.strip() for n in args.oracles.split(",") if n.strip()]
    unknown = [n for n in names if n not in ORACLES]
    if unknown or not names:
        parser.error(f"unknown oracles {unknown or 'none given'}; valid: {', '.join(ORACLES)}")
    try:
        loaded = sut.load(args.sut, args.isolation, boundary.DEFAULT_TIMEOUT, boundary.DEFAULT_MEMORY_MB,
                          args.convention)
    except sut.SutLoadError as exc:
        parser.error(str(exc))
    sink = open(args.results, "w") if args.results else None  # noqa: SIM115  (closed below)

    def write(record):
        if sink is not None:
            sink.write(json.dumps(record, sort_keys=True) + "\n")
            sink.flush()

    started = time.time()
    write({"kind": results.START, "sut": loaded.spec, "command": "hunt", "started": started, "pid": os.getpid()})
    try:
        report = hunt.hunt(loaded, budget, names, max_cases=args.max_cases, seed=args.seed, on_record=write,
                           replay_catalogue=not args.no_replay)
    finally:
        loaded.close()
    status = 1 if report.signatures or not report.cases else 0
    write({"kind": "signature", **{k: v for k, v in report.to_json().items() if k != "signatures"},
           "signatures": [s.signature for s in report.signatures]})
    write({"kind": results.END, "sut": loaded.spec, "command": "hunt", "oracles": names, "started": started,
           "duration": time.time() - started, "completed": True, "interrupted": False, "exitstatus": status,
           "cases": {"checked": report.cases, "fail": report.failing}})
    if sink is not None:
        sink.close()
    print(hunt.to_json(report) if args.json else hunt.render(report))
    return status


def _diagnose(args) -> int:
    """Findings per SUT; exit 1 when any case failed (there is something to diagnose), 0 otherwise, 2 when the
    files hold no case record."""
    from crosscheck import diagnose

    records = results.cases(results.read(args.results).records, args.sut)
    records = [r for r in records if isinstance(r.get("case"), dict) and "verdict" in r]
    if not records:
        which = f" of SUT {args.sut!r}" if args.sut else ""
        print(f"diagnose: {', '.join(args.results)} holds no case record{which}: nothing to diagnose "
              f"(a results file is written by pytest --results, check --results or hunt --results)")
        return 2
    by_sut = {}
    for r in records:
        by_sut.setdefault(r.get("sut"), []).append(r)
    found = {sut: diagnose.diagnose(rs, replay_catalogue=not args.no_replay) for sut, rs in by_sut.items()}
    if args.json:
        print(json.dumps({sut: json.loads(diagnose.to_json(f)) for sut, f in found.items()}, indent=2))
    else:
        for sut, findings in found.items():
            print(f"SUT {sut}")
            print(diagnose.render(findings))
    return 1 if any(found.values()) else 0


def _summary(args) -> int:
    read = results.read(args.results)
    records = results.cases(read.records, args.sut)
    generated = [r for r in records if r.get("phase") in (None, "generate", "explicit")]
    verdicts = results.counts(records)
    ran = Counter(name for r in generated for name, s in r.get("oracles", {}).items() if s.get("ran"))
    probed = Counter(name for r in generated for name in r.get("probed", []))
    required = [n.strip() for n in args.require_oracles.split(",") if n.strip()]
    judged = [r for r in generated if r.get("verdict") in check.CHECKED]
    # a sampled case's probes check some entries: only full answers count towards --min-cases
    full = sum(all(r["oracles"].get(n, {}).get("ran") and n not in r.get("probed", []) for n in required)
               for r in judged)
    reruns = len(records) - len(generated)
    print(f"{len(generated)} cases: " + ", ".join(f"{v} {n}" for v, n in sorted(verdicts.items()))
          + (f" (and {reruns} shrink/replay re-runs, not counted)" if reruns else ""))
    print("oracle runs: " + ", ".join(f"{n} {c}" + (f" ({probed[n]} probes only)" if probed[n] else "")
                                      for n, c in sorted(ran.items())))
    print(f"cases checked: {len(judged)} (unsupported, crashed and timed-out cases are not checked)")
    if required:
        print(f"cases checked in full by every one of {', '.join(required)}: {full}")
    status = 0
    for f in read.files:
        if not f.ok:
            print(f.headline())
            status = 1
    failing = sum(verdicts[v] for v in check.FAILING)
    if failing:
        print(f"{failing} failing case(s)")
        status = 1
    if not judged:
        print("no case was checked: nothing was verified")
        status = 1
    elif len(judged) < args.min_cases or full < args.min_cases:
        print(f"fewer than {args.min_cases} cases were checked by every required oracle")
        status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())

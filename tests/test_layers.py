"""Layer ops (crosscheck/ops.py): the example modules, the buggy twins, the correct forms, the entry points.

The correct modules must pass every op; each buggy one must fail naming the first wrong output of
the right function; each op's bound must hold for at least two textbook forms of its computation.
"""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from crosscheck import check, conventions, ops
from crosscheck.sut import load

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ROOT / "examples" / "layers"
SEEDS = range(6)


def cases_of(op, seeds=SEEDS):
    """A few deterministic cases of one op, in both dtypes, over its dims' range (affine's x also 3-D)."""
    row = ops.get(op)
    for seed in seeds:
        rng = np.random.default_rng(seed)
        dims = {k: int(rng.integers(lo, hi + 1)) for k, (lo, hi) in row.dims.items()}
        if op == "affine" and seed % 2:
            dims["D2"] = 2
        settings = {k: v[seed % len(v)] if not isinstance(v, range) else seed for k, v in row.settings.items()}
        for dtype in ("float64", "float32"):
            yield ops.case_of(op, dims, dtype, ("small", "unit", "large")[seed % 3], seed, settings)


@pytest.fixture(scope="module")
def module_sut():
    suts = {}

    def get(name, convention):
        if name not in suts:
            suts[name] = load(str(LAYERS / name), convention=conventions.for_layers(convention))
        return suts[name]

    yield get
    for s in suts.values():
        s.close()


@pytest.mark.parametrize(("name", "convention"), [("cs231n_layers.py", "cs231n"), ("course_steps.py", "ng")])
def test_the_correct_modules_pass_every_op(module_sut, name, convention):
    sut = module_sut(name, convention)
    for op in ops.of(convention):
        for case in cases_of(op):
            result = check.check(ops.build(case), sut, ["torch", "fd"])
            assert result.verdict == "pass", result.message()
            assert {c.tensor for c in result.comparisons} == set(ops.get(op).order)


BUGS = {
    "buggy_cs231n_layers.py": ("cs231n", {"affine": "db", "relu": "dx", "softmax_loss": "dx"}),
    "buggy_norm_layers.py": ("cs231n", {"batchnorm": "dx", "layernorm": "out", "dropout": "dx"}),
    "buggy_spatial_layers.py": ("cs231n", {"conv_naive": "db", "max_pool_naive": "dx", "spatial_batchnorm": "out",
                                           "spatial_groupnorm": "dx"}),
    "buggy_course_steps.py": ("ng", {"linear": "db", "ng_sigmoid": "dZ", "linear_sigmoid": "dA_prev",
                                     "linear_relu": "db"}),
}


@pytest.mark.parametrize("name", BUGS)
def test_each_buggy_module_fails_naming_the_first_wrong_output(module_sut, name):
    convention, wrong = BUGS[name]
    sut = module_sut(name, convention)
    for op in ops.of(convention):
        verdicts = set()
        for case in cases_of(op):
            result = check.check(ops.build(case), sut, ["torch", "fd"])
            verdicts.add(result.verdict)
            if op not in wrong:
                assert result.verdict == "pass", result.message()
            elif result.verdict == "fail":
                assert result.first_divergence == wrong[op], result.message()
                named = ops.get(op).function_of(wrong[op])  # "dw (affine_backward's output 2 of 3)", "out (..."
                assert f"first wrong output (forward's first, then backward's in order): {named}" in result.message()
        if op in wrong:
            assert verdicts <= {"pass", "fail"} and "fail" in verdicts, (op, verdicts)


@pytest.mark.parametrize(("forms", "convention"), [("cs231n_forms.py", "cs231n"), ("course_steps_forms.py", "ng")])
def test_second_textbook_forms_of_every_op_pass_within_its_bound(forms, convention):
    sut = load(str(LAYERS / forms), isolation="none", convention=conventions.for_layers(convention))
    for op in ops.of(convention):
        for case in cases_of(op, range(10)):
            result = check.check(ops.build(case), sut, ["torch", "fd"])
            assert result.verdict == "pass", result.message()


def test_kinks_are_kept_clear():
    for case in cases_of("svm_loss", range(20)):
        p = ops.build(case)
        x = p.params["x"].astype(np.float64)
        assert ops.get("svm_loss").clear({"x": x, "y": p.params["y"]}, case["dtype"]).all()
    for case in cases_of("relu"):
        assert (ops.build(case).params["x"] != 0).all()
    # a tied max-pool window is redrawn: x with every entry equal is not clear, and build never returns one
    pool = {"pool_height": np.asarray(2), "pool_width": np.asarray(2), "stride": np.asarray(2)}
    assert not ops.get("max_pool_naive").clear({"x": np.ones((1, 1, 2, 2)), **pool}, "float32").any()
    for case in cases_of("max_pool_naive", range(20)):
        p = ops.build(case)
        assert ops.get("max_pool_naive").clear(p.inputs64(), case["dtype"]).all()


def test_a_case_rebuilds_the_same_arrays_and_bad_cases_are_named():
    case = ops.case_of("affine", {"N": 3, "D": 2, "D2": 2, "M": 4}, "float32", "unit", 5)
    a, b = ops.build(case), ops.build(json.loads(json.dumps(case)))
    assert all(np.array_equal(a.params[k], b.params[k]) for k in a.params)
    assert a.params["x"].shape == (3, 2, 2) and a.params["w"].shape == (4, 4) and a.params["x"].dtype == np.float32
    with pytest.raises(ValueError, match="has no dim 'K'"):
        ops.build({**case, "dims": {"N": 1, "D": 1, "M": 1, "K": 2}})
    with pytest.raises(ValueError, match="unknown op"):
        ops.build({**case, "op": "conv"})


def test_jax_is_listed_as_skipped_for_ops(module_sut):
    result = check.check(ops.build(next(cases_of("affine"))), module_sut("cs231n_layers.py", "cs231n"))
    assert result.verdict == "pass"
    assert not result.oracles["jax"]["ran"] and "layer ops" in result.oracles["jax"]["reason"]
    assert result.oracles["torch"]["ran"] and result.oracles["fd"]["ran"]


def _run(*args):
    return subprocess.run([sys.executable, "-m", "crosscheck", *args], capture_output=True, text=True,
                          cwd=ROOT, env={**__import__("os").environ, "OMP_NUM_THREADS": "1"})


def test_check_layers_passes_the_correct_module_and_lists_absent_functions(tmp_path):
    partial = tmp_path / "partial.py"
    partial.write_text((LAYERS / "cs231n_layers.py").read_text().split("def sigmoid_forward")[0])
    done = _run("check", "--layers", str(partial), "--convention", "cs231n", "--profile", "smoke",
                "--oracles", "torch,fd")
    assert done.returncode == 0, done.stdout[-3000:]
    assert "not checked: NotImplementedError: the module defines no sigmoid_forward" in done.stdout
    assert "not checked: NotImplementedError: the module defines no svm_loss" in done.stdout
    from crosscheck import ops

    skipped = 2 * (len(ops.of("cs231n")) - 2)  # every op but affine and relu, in two dtypes
    assert f"4 passed, {skipped} skipped" in done.stdout, done.stdout[-2000:]


def test_check_layers_fails_the_buggy_module_and_its_reproduce_line_reruns_the_case():
    done = _run("check", "--layers", str(LAYERS / "buggy_cs231n_layers.py"), "--convention", "cs231n",
                "--profile", "smoke", "--oracles", "torch,fd", "--", "-k", "softmax_loss and float64")
    assert done.returncode == 1
    assert "first wrong output (forward's first, then backward's in order): dx (softmax_loss's output 2 of 2)" \
        in done.stdout
    line = next(x for x in done.stdout.splitlines() if "reproduce: python -m crosscheck reproduce --layers" in x)
    command = line.split("reproduce: python -m crosscheck ", 1)[1].lstrip("E ")
    import shlex

    again = _run(*shlex.split(command), "--oracles", "torch,fd")
    assert again.returncode == 1 and "dx (softmax_loss's output 2 of 2)" in again.stdout
    assert _run("check", "--layers", "x.py", "--convention", "nielsen").returncode == 2
    bare = _run("check", "--layers", "x.py")
    assert bare.returncode == 2 and "--layers needs --convention cs231n or ng" in bare.stderr
    missing = _run("check", "--layers", "no_such_layers.py", "--convention", "cs231n")
    assert missing.returncode == 4
    assert "--layers file 'no_such_layers.py' does not exist" in missing.stdout + missing.stderr


@pytest.mark.parametrize(("name", "convention"), [("cs231n_layers.py", "cs231n"), ("course_steps.py", "ng")])
def test_check_layers_under_the_ci_profile_passes_the_correct_modules(name, convention, tmp_path):
    done = _run("check", "--layers", str(LAYERS / name), "--convention", convention, "--profile", "crosscheck-ci",
                "--oracles", "torch,fd", "--results", str(tmp_path / "r.jsonl"))
    assert done.returncode == 0, done.stdout[-3000:]
    records = [json.loads(line) for line in (tmp_path / "r.jsonl").read_text().splitlines()]
    cases = [r for r in records if r["kind"] == "case"]
    assert len(cases) >= 150 * 2 * len(ops.of(convention)) and all(r["verdict"] == "pass" for r in cases)
    assert {r["case"]["op"] for r in cases} == set(ops.of(convention))


_FLOAT64_AFFINE = '''
import numpy as np
{supports}

def affine_forward(x, w, b):
    out = np.zeros((x.shape[0], w.shape[1]))  # float64, whatever x is: the course's data is float64
    out[:] = x.reshape(x.shape[0], -1) @ w + b
    return out, (x, w)


def affine_backward(dout, cache):
    x, w = cache
    return (dout @ w.T).reshape(x.shape), x.reshape(x.shape[0], -1).T @ dout, dout.sum(axis=0)
'''


def test_a_module_written_for_float64_alone_says_so_and_its_float32_checks_are_listed_not_checked(tmp_path):
    plain, declared = tmp_path / "plain.py", tmp_path / "declared.py"
    plain.write_text(_FLOAT64_AFFINE.format(supports=""))
    declared.write_text(_FLOAT64_AFFINE.format(supports='supports = {"dtypes": ["float64"]}'))
    args = ("--convention", "cs231n", "--profile", "smoke", "--oracles", "torch,fd", "--", "-k", "affine")
    undeclared = _run("check", "--layers", str(plain), *args)
    assert undeclared.returncode == 1 and "dtype float64 != expected float32" in undeclared.stdout
    assert "out came back float64 from a float32 case: a module written for float64 alone declares supports" \
        in undeclared.stdout
    done = _run("check", "--layers", str(declared), *args)
    assert done.returncode == 0, done.stdout[-3000:]
    assert "not checked: the module's supports['dtypes'] is ['float64']" in done.stdout
    assert "1 passed, 1 skipped" in done.stdout

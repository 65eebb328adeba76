"""A naming file (crosscheck/naming.py): a module of layer functions with its own names and orders.

A module named its own way must be checked exactly as one named the convention's way: the naming
file says which function is which and in what order each takes and returns its values; a wrong
order is a named failure, not a pass; a naming file that cannot be right is refused at start,
naming the key and the name.
"""

import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from crosscheck import check, conventions, naming, ops
from crosscheck.sut import SutLoadError, load

ROOT = Path(__file__).resolve().parents[1]
RENAMED = ROOT / "examples" / "layers" / "renamed"
MODULE, NAMES = RENAMED / "fc_layers.py", RENAMED / "names.toml"
MAPPED = ("affine", "relu", "softmax_loss", "batchnorm", "batchnorm_alt")


def _run(*args):
    return subprocess.run([sys.executable, "-m", "crosscheck", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=600)


def _load(names, isolation="none"):
    return load(str(MODULE), isolation=isolation, convention=conventions.for_layers("cs231n"), names=str(names))


def _case(op, dtype="float64", seed=3):
    row = ops.get(op)
    dims = {k: hi for k, (lo, hi) in row.dims.items()}
    settings = {k: v[0] for k, v in row.settings.items()}
    return ops.case_of(op, dims, dtype, "unit", seed, settings)


def test_the_convention_s_own_signatures_are_the_defaults():
    cs231n, ng = naming.defaults("cs231n"), naming.defaults("ng")
    assert str(cs231n["affine_backward"]) == "affine_backward(dout, cache) -> dx, dw, db"
    assert str(cs231n["softmax_loss"]) == "softmax_loss(x, y) -> loss, dx"
    assert str(cs231n["spatial_groupnorm_forward"]) == \
        "spatial_groupnorm_forward(x, gamma, beta, G, gn_param) -> out, cache"
    assert str(ng["linear_activation_backward"]) == \
        "linear_activation_backward(dA, cache, activation) -> dA_prev, dW, db"
    assert str(ng["relu"]) == "relu(Z) -> A, cache"


def test_a_renamed_module_passes_through_its_naming_file_and_is_not_checked_without_it(tmp_path):
    results = tmp_path / "r.jsonl"
    done = _run("check", "--layers", str(MODULE), "--convention", "cs231n", "--names", str(NAMES),
                "--profile", "smoke", "--oracles", "torch,fd", "--results", str(results))
    assert done.returncode == 0, done.stdout[-3000:]
    cases = [r for r in map(json.loads, results.read_text().splitlines()) if r["kind"] == "case"]
    checked = {r["case"]["op"] for r in cases if r["verdict"] != "unsupported"}
    assert checked == set(MAPPED)
    assert all(r["verdict"] in ("pass", "unsupported") for r in cases)
    assert "the module defines no svm_loss" in done.stdout  # unmapped and absent: listed as not checked
    bare = _run("check", "--layers", str(MODULE), "--convention", "cs231n", "--profile", "smoke",
                "--oracles", "torch,fd")
    assert bare.returncode == 1 and "the module defines no affine_forward" in bare.stdout


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_every_mapped_op_passes_in_process_and_isolated(dtype):
    for isolation in ("none", "process"):
        sut = _load(NAMES, isolation)
        try:
            for op in MAPPED:
                result = check.check(ops.build(_case(op, dtype)), sut, ["torch", "fd"])
                assert result.verdict == "pass", result.message()
        finally:
            sut.close()


def test_a_wrong_return_order_is_a_named_failure_and_its_reproduce_line_carries_the_naming_file(tmp_path):
    wrong = tmp_path / "wrong.toml"
    # db and dx swapped: db (M,) and dx (N, D) differ in shape whenever N, D > 1
    wrong.write_text(NAMES.read_text().replace('"fc_backward(cache, dout) -> dw, db, dx"',
                                               '"fc_backward(cache, dout) -> dw, dx, db"'))
    sut = _load(wrong)
    result = check.check(ops.build(_case("affine")), sut, ["torch", "fd"])
    assert result.verdict == "fail"
    assert "first wrong output (forward's first, then backward's in order): dx" in result.message()
    command = result.reproduce()
    assert f"--names {wrong}" in command
    again = _run(*shlex.split(command)[3:], "--oracles", "torch,fd")
    assert again.returncode == 1 and "dx" in again.stdout


@pytest.mark.parametrize(("text", "named"), [
    ('[functions]\naffine_fwd = "fc_forward"\n', "'affine_fwd', not functions of convention cs231n"),
    ('[functions]\naffine_backward = "fc_backward(cache, grad) -> dw, db, dx"\n', "unknown 'grad'; missing 'dout'"),
    ('[functions]\naffine_backward = "fc_backward(cache, dout) -> dw, db"\n', "returns: missing 'dx'"),
    ('[functions]\naffine_backward = "fc_backward(cache, dout, dout) -> dw, db, dx"\n', "named twice 'dout'"),
    ('[functions]\naffine_backward = "fc_backward(cache, dout)"\n', "cannot read"),
    ('[functions]\naffine_backward = 3\n', "a signature is a string"),
    ('convention = "ng"\n', "the file is for convention 'ng'"),
    ('[function]\n', "unknown keys ['function']"),
    ('[functions\n', "names.toml"),
])
def test_a_naming_file_that_cannot_be_right_is_refused_naming_the_key(tmp_path, text, named):
    bad = tmp_path / "names.toml"
    bad.write_text(text)
    with pytest.raises(SutLoadError, match="--names") as err:
        _load(bad)
    assert named in str(err.value)


def test_the_command_line_refuses_a_bad_naming_file_and_one_without_layers(tmp_path):
    missing = _run("check", "--layers", str(MODULE), "--convention", "cs231n", "--names", str(tmp_path / "no.toml"),
                   "--profile", "smoke")
    assert missing.returncode == 4 and "no such file" in missing.stdout + missing.stderr
    assert _run("check", "--sut", "reference_impl:backprop", "--names", str(NAMES)).returncode == 2
    with pytest.raises(SutLoadError, match="describes layer functions"):
        load("reference_impl:backprop", isolation="none", names=str(NAMES))

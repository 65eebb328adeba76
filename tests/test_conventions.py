"""Real code in the conventions it is written in, checked with no adapter code: from a temporary
directory outside the checkout, ``python -m crosscheck check --convention NAME`` passes each
correct example in examples/conventions/ and catches and localizes each classic bug."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from crosscheck import profiles

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "conventions"


def last(case):
    return len(case["sizes"]) - 1


def last_with(name):
    """The highest layer whose activation is ``name``: where a bug in its derivative first shows in dW."""
    return lambda case: max(l for l, a in enumerate(case["activations"], start=1) if a == name)


CORRECT = [
    ("ng/dnn_utils.py", "ng"),
    ("nielsen/network.py:Network", "nielsen"),
    ("nielsen/network2.py:Network", "nielsen"),
    ("cs231n/cs231n_like/classifiers/fc_net.py:FullyConnectedNet", "cs231n"),
    ("layers/mini_layers.py:LAYERS", "layers"),
    ("layers/optimizer_layers.py:LAYERS", "layers"),
]
BUGGY = [  # spec, convention, the tensor that must diverge first: (kind, layer of the case)
    ("ng/buggy_db_not_averaged.py", "ng", ("db", last)),
    ("ng/buggy_sigmoid_backward_missing_factor.py", "ng", ("dW", last)),
    ("ng/buggy_hidden_layers_sigmoid_backward.py", "ng", ("dW", lambda c: last(c) - 1)),
    ("ng/buggy_dAL_sign.py", "ng", ("dW", last)),
    ("nielsen/buggy_delta_without_sigmoid_prime.py:Network", "nielsen", ("dW", last)),
    ("nielsen/buggy_sigmoid_prime_at_activation.py:Network", "nielsen", ("dW", lambda c: last(c) - 1)),
    ("nielsen/buggy_network2_cross_entropy_delta.py:Network", "nielsen", ("dW", last)),
    ("cs231n/cs231n_like/classifiers/fc_net_buggy_softmax_no_average.py:FullyConnectedNet", "cs231n",
     ("dW", last)),
    ("cs231n/cs231n_like/classifiers/fc_net_buggy_loss_not_averaged.py:FullyConnectedNet", "cs231n",
     ("loss", None)),
    ("cs231n/cs231n_like/classifiers/fc_net_buggy_relu_mask.py:FullyConnectedNet", "cs231n",
     ("dW", lambda c: last(c) - 1)),
    ("layers/buggy_db_first_example.py:LAYERS", "layers", ("db", last)),
    ("layers/buggy_tanh_prime.py:LAYERS", "layers", ("dW", last_with("tanh"))),
]


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    """A user's repository holding the examples, outside the checkout."""
    where = tmp_path_factory.mktemp("repo")
    shutil.copytree(EXAMPLES, where / "conventions", ignore=shutil.ignore_patterns("__pycache__"))
    return where


def check(repo, spec, convention, *args, results="r.jsonl"):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "CROSSCHECK_JAX_CACHE")}
    env["OMP_NUM_THREADS"] = "1"
    out = repo / results
    out.unlink(missing_ok=True)
    proc = subprocess.run([sys.executable, "-m", "crosscheck", "check", "--sut", f"conventions/{spec}",
                           "--convention", convention, "--results", str(out), *args],
                          cwd=repo, capture_output=True, text=True, env=env, timeout=600)
    records = [json.loads(line) for line in out.read_text().splitlines()] if out.exists() else []
    return proc, [r for r in records if r.get("kind") == "case"]


@pytest.mark.parametrize("spec, convention", CORRECT, ids=[s for s, _ in CORRECT])
def test_a_correct_implementation_passes_in_its_convention(repo, spec, convention):
    proc, cases = check(repo, spec, convention, "--profile", "smoke")
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert cases and {c["verdict"] for c in cases} == {"pass"}
    assert all(set(c["oracles"]) == {"torch", "jax", "fd"} for c in cases)
    assert all(c["convention"] == convention for c in cases)


@pytest.mark.parametrize("spec, convention, expected", BUGGY, ids=[s for s, _, _ in BUGGY])
def test_a_classic_bug_is_caught_and_localized_in_its_convention(repo, spec, convention, expected):
    proc, cases = check(repo, spec, convention, "--profile", "smoke", "--oracles", "fd")
    assert proc.returncode == 1, proc.stdout[-4000:] + proc.stderr[-2000:]
    failing = [c for c in cases if c["verdict"] == "fail" and c.get("phase") == "generate"]
    assert failing, proc.stdout[-4000:]
    kind, layer = expected
    for c in failing:
        # a wrong dZ_k shows in dW_k, or in db_k alone when A_{k-1} is zero (relu) and zeros hide it in dW_k
        kinds = {"dW", "db"} if kind == "dW" else {kind}
        want = {kind} if layer is None else {f"{k}{layer(c['case'])}" for k in kinds}
        assert c["first_divergence"] in want, (c["case"], c["first_divergence"], want, c["problems"])
        assert f"--convention {convention}" in c["reproduce"]


def test_an_honest_architecture_gets_no_unsupported_case_in_the_ci_profile(repo):
    shutil.copy(ROOT / "examples" / "suts" / "relu_sigmoid_bce.py", repo)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "CROSSCHECK_JAX_CACHE")}
    proc = subprocess.run([sys.executable, "-m", "crosscheck", "check", "--sut", "relu_sigmoid_bce.py:backprop",
                           "--profile", "crosscheck-ci", "--oracles", "fd", "--results", "arch.jsonl"],
                          cwd=repo, capture_output=True, text=True, env={**env, "OMP_NUM_THREADS": "1"}, timeout=600)
    assert proc.returncode == 0, proc.stdout[-4000:]
    cases = [json.loads(line) for line in (repo / "arch.jsonl").read_text().splitlines()]
    cases = [c for c in cases if c.get("kind") == "case"]
    sampled = [c for c in cases if "sample" in c["case"]]
    n = profiles.CI_CASES  # columns only: 2 full tests and 2 sampled, n each
    assert len(cases) == 4 * n and len(sampled) == 2 * n
    assert [c["verdict"] for c in cases].count("unsupported") == 0
    assert {c["case"]["sizes"][-1] for c in cases} == {1}


def test_the_report_says_which_convention_and_what_was_not_checked(repo, tmp_path):
    from reports.build import build_report

    proc, cases = check(repo, "ng/buggy_db_not_averaged.py", "ng", "--profile", "smoke", "--oracles", "fd",
                        results="ng.jsonl")
    assert proc.returncode == 1 and cases
    html = build_report([repo / "ng.jsonl"], tmp_path / "r.html").read_text()
    assert "(convention ng)" in html and "Not checked (the SUT does not return them)" in html
    assert "<code>dZ1</code>" in html

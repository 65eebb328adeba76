"""Installed, the suite runs anywhere: README's "Check your own implementation", from a temporary
directory outside the checkout, with nothing on the path but the installed package."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def repo(tmp_path):
    """A user's repository: one correct implementation and one with the classic sigmoid bug."""
    shutil.copy(ROOT / "examples" / "suts" / "ng_columns.py", tmp_path / "mine.py")
    shutil.copy(ROOT / "examples" / "suts" / "buggy_sigmoid_at_a.py", tmp_path / "buggy.py")
    shutil.copy(ROOT / "examples" / "suts" / "general_chain.py", tmp_path)  # the buggy one imports it
    return tmp_path


def run(repo, *args):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTEST_ADDOPTS", "CROSSCHECK_JAX_CACHE")}
    env["OMP_NUM_THREADS"] = "1"
    return subprocess.run([sys.executable, *args], cwd=repo, capture_output=True, text=True, env=env, timeout=600)


def test_check_passes_a_correct_implementation_and_writes_its_results_there(repo):
    proc = run(repo, "-m", "crosscheck", "check", "--sut", "mine.py:backprop", "--profile", "smoke",
               "--results", "out.jsonl")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "34 passed" in proc.stdout and "cases each oracle ran on: torch" in proc.stdout
    assert (repo / "out.jsonl").is_file() and (repo / ".crosscheck-cache").is_dir()
    summary = run(repo, "-m", "crosscheck", "summary", "out.jsonl", "--min-cases", "60",  # smoke: 68 in full
                  "--require-oracles", "torch,jax,fd")
    assert summary.returncode == 0, summary.stdout


def test_check_catches_and_localizes_a_buggy_implementation(repo):
    proc = run(repo, "-m", "crosscheck", "check", "--sut", "buggy.py:backprop", "--profile", "smoke",
               "--oracles", "fd", "--", "-x")
    assert proc.returncode == 1
    assert "first diverging tensor in backward order: dZ" in proc.stdout
    assert "reproduce: python -m crosscheck reproduce --sut buggy.py:backprop" in proc.stdout


def test_plain_pytest_runs_the_shipped_suite(repo):
    proc = run(repo, "-m", "pytest", "--pyargs", "crosscheck.suite", "--sut=mine.py:backprop",
               "--hypothesis-profile=smoke", "--oracles=fd", "-q", "-n", "2")
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "34 passed" in proc.stdout

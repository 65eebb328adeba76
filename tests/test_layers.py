"""Layer ops (crosscheck/ops.py): the example modules, the buggy twins, the correct forms, the entry points.

The correct modules must pass every op; each buggy one must fail naming the first wrong output of
the right function; each op's bound must hold for at least two textbook forms of its computation.
"""

import json
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from crosscheck import check, conventions, ops
from crosscheck.sut import Sut, load

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


def in_process(module, convention):
    """A Sut over a module object built here (the correct forms), called through the same adapter."""
    fn, _ = conventions.get(conventions.for_layers(convention)).adapt(module)
    return Sut(f"forms:{module.__name__}", fn, None, convention=conventions.for_layers(convention))


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


def _forms_cs231n():
    """Second textbook forms of the cs231n ops (the module in examples/layers has the first)."""
    m = types.ModuleType("forms_cs231n")

    def affine_forward(x, w, b):
        return np.einsum("nd,dm->nm", x.reshape(len(x), -1), w) + b, (x, w)

    def affine_backward(dout, cache):
        x, w = cache
        x2 = x.reshape(len(x), -1)
        return (np.einsum("nm,dm->nd", dout, w).reshape(x.shape), np.einsum("nd,nm->dm", x2, dout),
                np.ones(len(dout), dout.dtype) @ dout)

    def relu_forward(x):
        return np.where(x > 0, x, 0).astype(x.dtype), x

    def relu_backward(dout, x):
        return np.where(x > 0, dout, 0).astype(dout.dtype)

    def sigmoid_forward(x):
        return ((1 + np.tanh(x / 2)) / 2).astype(x.dtype), x

    def sigmoid_backward(dout, x):  # from x: σ(x) σ(-x)
        s = lambda z: (1 + np.tanh(z / 2)) / 2  # noqa: E731
        return (dout * s(x) * s(-x)).astype(dout.dtype)

    def softmax_loss(x, y):  # explicit probabilities, the log of the picked one
        e = np.exp(x - x.max(axis=1, keepdims=True))
        p = e / e.sum(axis=1, keepdims=True)
        N = len(x)
        loss = -np.log(p[np.arange(N), y]).mean()
        p[np.arange(N), y] -= 1
        return loss, p / N

    def svm_loss(x, y):  # loops over examples and classes
        N, C = x.shape
        loss, dx = 0.0, np.zeros_like(x)
        for i in range(N):
            for k in range(C):
                margin = x[i, k] - x[i, y[i]] + 1
                if k != y[i] and margin > 0:
                    loss += margin
                    dx[i, k] += 1
                    dx[i, y[i]] -= 1
        return loss / N, dx / N

    def batchnorm_forward(x, gamma, beta, bn_param):  # one pass: σ² = mean(x²) - μ², folded into a shift
        mu = x.mean(axis=0)
        inv = (np.mean(x * x, axis=0) - mu * mu + bn_param["eps"]) ** -0.5
        scale = gamma * inv
        return x * scale + (beta - mu * scale), (x, mu, inv, gamma)

    def batchnorm_backward(dout, cache):  # the simplified formula, from x and inv
        x, mu, inv, gamma = cache
        xhat = (x - mu) * inv
        dgamma, dbeta = np.einsum("nd,nd->d", dout, xhat), dout.sum(axis=0)
        return gamma * inv * (dout - dbeta / len(x) - xhat * dgamma / len(x)), dgamma, dbeta

    def layernorm_forward(x, gamma, beta, ln_param):  # layernorm as batchnorm of xᵀ
        xt = x.T
        mu = xt.mean(axis=0)
        xc = xt - mu
        std = np.sqrt((xc * xc).mean(axis=0) + ln_param["eps"])
        xhat = (xc / std).T
        return gamma * xhat + beta, (xc, std, (xc * xc).mean(axis=0), ln_param["eps"], gamma, xhat)

    def layernorm_backward(dout, cache):  # by the computational graph, on xᵀ
        xc, std, var, eps, gamma, xhat = cache
        D = xc.shape[0]
        dxhat = (dout * gamma).T
        dvar = (dxhat * xc).sum(axis=0) * -0.5 * (var + eps) ** -1.5
        dmu = -(dxhat / std).sum(axis=0) + dvar * (-2 * xc).mean(axis=0)
        return (dxhat / std + dvar * 2 * xc / D + dmu / D).T, (dout * xhat).sum(axis=0), dout.sum(axis=0)

    def dropout_forward(x, dropout_param):  # the keep pattern as booleans, divided by p after the product
        np.random.seed(dropout_param["seed"])
        keep = np.random.rand(*x.shape) < dropout_param["p"]
        return (x * keep / np.asarray(dropout_param["p"], x.dtype)).astype(x.dtype), (keep, dropout_param["p"])

    def dropout_backward(dout, cache):
        keep, p = cache
        return np.where(keep, dout / np.asarray(p, dout.dtype), 0).astype(dout.dtype)

    def offsets(x, HH, WW, stride, Ho, Wo):  # im2col by kernel offset: cols[n, c, kh, kw, i, j]
        return np.stack([np.stack([x[:, :, kh:kh + stride * (Ho - 1) + 1:stride, kw:kw + stride * (Wo - 1) + 1:stride]
                                   for kw in range(WW)], 2) for kh in range(HH)], 2)

    def conv_forward_naive(x, w, b, conv_param):  # im2col, then one matrix product
        s, p = conv_param["stride"], conv_param["pad"]
        F, C, HH, WW = w.shape
        Ho, Wo = (x.shape[2] + 2 * p - HH) // s + 1, (x.shape[3] + 2 * p - WW) // s + 1
        cols = offsets(np.pad(x, ((0, 0), (0, 0), (p, p), (p, p))), HH, WW, s, Ho, Wo)
        out = np.einsum("fk,nkij->nfij", w.reshape(F, -1), cols.reshape(len(x), C * HH * WW, Ho, Wo))
        return out + b[:, None, None], (x, w, cols, conv_param)

    def conv_backward_naive(dout, cache):  # dcols = wᵀ dout, then col2im by kernel offset
        x, w, cols, conv_param = cache
        s, p = conv_param["stride"], conv_param["pad"]
        F, C, HH, WW = w.shape
        N, _, Ho, Wo = dout.shape
        dw = np.einsum("nfij,nckhij->fckh", dout, cols)
        dcols = np.einsum("fckh,nfij->nckhij", w, dout)
        dx_pad = np.zeros((N, C, x.shape[2] + 2 * p, x.shape[3] + 2 * p), x.dtype)
        for kh in range(HH):
            for kw in range(WW):
                dx_pad[:, :, kh:kh + s * (Ho - 1) + 1:s, kw:kw + s * (Wo - 1) + 1:s] += dcols[:, :, kh, kw]
        return dx_pad[:, :, p:p + x.shape[2], p:p + x.shape[3]], dw, dout.sum(axis=(0, 2, 3))

    def max_pool_forward_naive(x, pool_param):  # the windows reshaped to rows, their argmax
        PH, PW, s = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
        Ho, Wo = (x.shape[2] - PH) // s + 1, (x.shape[3] - PW) // s + 1
        rows = offsets(x, PH, PW, s, Ho, Wo).reshape(*x.shape[:2], PH * PW, Ho, Wo)
        arg = rows.argmax(axis=2)
        return np.take_along_axis(rows, arg[:, :, None], 2)[:, :, 0], (x.shape, arg, pool_param)

    def max_pool_backward_naive(dout, cache):  # each dout to its window's argmax, overlaps added
        shape, arg, pool_param = cache
        PW, s = pool_param["pool_width"], pool_param["stride"]
        n, c, i, j = np.indices(dout.shape)
        dx = np.zeros(shape, dout.dtype)
        np.add.at(dx, (n, c, i * s + arg // PW, j * s + arg % PW), dout)
        return dx

    def spatial_batchnorm_forward(x, gamma, beta, bn_param):  # straight over the axes (0, 2, 3)
        g = gamma[:, None, None]
        mu = x.mean(axis=(0, 2, 3), keepdims=True)
        xc = x - mu
        var = (xc * xc).mean(axis=(0, 2, 3), keepdims=True)
        std = np.sqrt(var + bn_param["eps"])
        xhat = xc / std
        return g * xhat + beta[:, None, None], (xc, std, var, bn_param["eps"], g, xhat)

    def spatial_batchnorm_backward(dout, cache):  # by the computational graph
        xc, std, var, eps, g, xhat = cache
        m = dout.size // dout.shape[1]
        dxhat = dout * g
        dvar = (dxhat * xc).sum(axis=(0, 2, 3), keepdims=True) * -0.5 * (var + eps) ** -1.5
        dmu = -(dxhat / std).sum(axis=(0, 2, 3), keepdims=True) + dvar * (-2 * xc).mean(axis=(0, 2, 3), keepdims=True)
        dx = dxhat / std + dvar * 2 * xc / m + dmu / m
        return dx, (dout * xhat).sum(axis=(0, 2, 3)), dout.sum(axis=(0, 2, 3))

    def spatial_groupnorm_forward(x, gamma, beta, G, gn_param):  # σ² = mean(x²) - μ² per group
        N = len(x)
        xg = x.reshape(N, G, -1)
        mu = xg.mean(axis=2, keepdims=True)
        inv = ((xg * xg).mean(axis=2, keepdims=True) - mu * mu + gn_param["eps"]) ** -0.5
        xhat = ((xg - mu) * inv).reshape(x.shape)
        return gamma * xhat + beta, (xg - mu, inv, gamma, xhat, G)

    def spatial_groupnorm_backward(dout, cache):  # by the computational graph, per group
        xc, inv, gamma, xhat, G = cache
        N, n = len(dout), xc.shape[2]
        dxhat = (dout * gamma).reshape(N, G, -1)
        dvar = (dxhat * xc).sum(axis=2, keepdims=True) * -0.5 * inv**3
        dmu = -(dxhat * inv).sum(axis=2, keepdims=True) + dvar * (-2 * xc).mean(axis=2, keepdims=True)
        dx = (dxhat * inv + dvar * 2 * xc / n + dmu / n).reshape(dout.shape)
        return dx, (dout * xhat).sum(axis=(0, 2, 3), keepdims=True), dout.sum(axis=(0, 2, 3), keepdims=True)

    for f in (affine_forward, affine_backward, relu_forward, relu_backward, sigmoid_forward, sigmoid_backward,
              softmax_loss, svm_loss, batchnorm_forward, batchnorm_backward,
              layernorm_forward, layernorm_backward, dropout_forward, dropout_backward,
              conv_forward_naive, conv_backward_naive, max_pool_forward_naive, max_pool_backward_naive,
              spatial_batchnorm_forward, spatial_batchnorm_backward, spatial_groupnorm_forward,
              spatial_groupnorm_backward):
        setattr(m, f.__name__, f)
    m.batchnorm_backward_alt = batchnorm_backward
    return m


def _forms_ng():
    m = types.ModuleType("forms_ng")

    def sigmoid(Z):
        return 1 / (1 + np.exp(-Z)), Z

    def relu(Z):
        return Z * (Z > 0), Z

    def sigmoid_backward(dA, Z):  # A (1 - A) from a fresh A
        A = 1 / (1 + np.exp(-Z))
        return dA * A * (1 - A)

    def relu_backward(dA, Z):
        return np.where(Z > 0, dA, 0).astype(dA.dtype)

    def linear_forward(A, W, b):
        return np.dot(W, A) + b, (A, W, b)

    def linear_backward(dZ, cache):  # the 1/m applied to dZ first
        A_prev, W, _ = cache
        scaled = dZ / A_prev.shape[1]
        return np.dot(W.T, dZ), np.dot(scaled, A_prev.T), np.sum(scaled, axis=1, keepdims=True)

    def linear_activation_forward(A_prev, W, b, activation):
        Z, lc = linear_forward(A_prev, W, b)
        A, ac = (sigmoid if activation == "sigmoid" else relu)(Z)
        return A, (lc, ac)

    def linear_activation_backward(dA, cache, activation):
        lc, ac = cache
        return linear_backward((sigmoid_backward if activation == "sigmoid" else relu_backward)(dA, ac), lc)

    for f in (sigmoid, relu, sigmoid_backward, relu_backward, linear_forward, linear_backward,
              linear_activation_forward, linear_activation_backward):
        setattr(m, f.__name__, f)
    return m


@pytest.mark.parametrize(("forms", "convention"), [(_forms_cs231n, "cs231n"), (_forms_ng, "ng")])
def test_second_textbook_forms_of_every_op_pass_within_its_bound(forms, convention):
    sut = in_process(forms(), convention)
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


@pytest.mark.parametrize(("name", "convention"), [("cs231n_layers.py", "cs231n"), ("course_steps.py", "ng")])
def test_check_layers_under_the_ci_profile_passes_the_correct_modules(name, convention, tmp_path):
    done = _run("check", "--layers", str(LAYERS / name), "--convention", convention, "--profile", "crosscheck-ci",
                "--oracles", "torch,fd", "--results", str(tmp_path / "r.jsonl"))
    assert done.returncode == 0, done.stdout[-3000:]
    records = [json.loads(line) for line in (tmp_path / "r.jsonl").read_text().splitlines()]
    cases = [r for r in records if r["kind"] == "case"]
    assert len(cases) >= 150 * 2 * len(ops.of(convention)) and all(r["verdict"] == "pass" for r in cases)
    assert {r["case"]["op"] for r in cases} == set(ops.of(convention))

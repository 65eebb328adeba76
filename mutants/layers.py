"""The layer-level mutant catalogue: classic bugs in layer functions, one function wrong in an
otherwise correct module (``examples/layers``), each with the op that must catch it and the output
it must show first (forward's outputs first, then backward's in order: ``crosscheck.ops``).

    python -m mutants.layers [--cases N]      # hunt every layer mutant and print the kill matrix

A mutant is a module: the correct example module with one function replaced. It is checked through
the same adapter as a user's file (``crosscheck.conventions``), on cases of its op drawn by
``crosscheck.ops.cases`` (with the dims the bug needs to show: a batch of two for a missing sum or
1/N), and every op the bug does not touch must still pass.
"""

from __future__ import annotations

import argparse
import inspect
import types
from dataclasses import dataclass, field

import numpy as np
from hypothesis import HealthCheck, Phase, find, settings
from hypothesis import strategies as st
from hypothesis.errors import NoSuchExample

from crosscheck import check, conventions, ops
from crosscheck.sut import Sut
from examples.layers import buggy_norm_layers, buggy_spatial_layers, course_steps, cs231n_layers
from mutants.kill import Hunted

BASES = {"cs231n": (cs231n_layers,), "ng": (course_steps,)}


@dataclass(frozen=True)
class LayerMutant:
    name: str
    convention: str
    bug_class: str
    story: str
    replaces: dict
    """{function name: the wrong function}, over the convention's correct modules."""
    first: dict
    """{op: the output that must diverge first}: the ops the bug changes, and where it shows."""
    dims: dict = field(default_factory=dict)
    """{dim: (lo, hi)}: what the cases need for the bug to show (within the op's own range)."""
    needs: dict = field(default_factory=dict)
    """{op: extra dims every case gets} (affine's x as (N, D, D2))."""
    settings: dict = field(default_factory=dict)
    """{op: {setting: values}}: the settings the bug needs to show (a keep probability below 1)."""

    def module(self) -> types.ModuleType:
        # the correct modules' source run afresh, so that their own calls (linear_activation_backward
        # calling linear_backward) reach the replaced function, as in a file with the bug
        m = types.ModuleType(f"mutant_{self.name}")
        for base in BASES[self.convention]:
            exec(compile(inspect.getsource(base), base.__file__, "exec"), m.__dict__)  # noqa: S102
        for key, value in self.replaces.items():
            setattr(m, key, value)
        return m

    def sut(self) -> Sut:
        convention = conventions.for_layers(self.convention)
        fn, _ = conventions.get(convention).adapt(self.module())
        return Sut(f"mutants.layers:{self.name}", fn, None, convention=convention)


# ---------------------------------------------------------------------------------------------
# the wrong functions


def _affine_db_first_row(dout, cache):
    dx, dw, _ = cs231n_layers.affine_backward(dout, cache)
    return dx, dw, dout[0]  # one example's dout, not Σ_N dout


def _affine_dw_untransposed(dout, cache):
    x, w, _ = cache
    dx, _, db = cs231n_layers.affine_backward(dout, cache)
    return dx, dout.T @ x.reshape(x.shape[0], -1), db  # dout x: dwᵀ


def _affine_x_not_reshaped(dout, cache):
    x, w, _ = cache
    dx, _, db = cs231n_layers.affine_backward(dout, cache)
    return dx, x.T @ dout, db  # x (N, d1, d2) not read as (N, D)


def _relu_output_mask(dout, cache):
    return dout * (dout > 0)  # the sign of dout, not of x


def _sigmoid_at_output(dout, cache):
    s = cache  # σ(x), and σ' applied to it again: σ'(σ(x))
    t = cs231n_layers.sigmoid_forward(s)[0]
    return dout * t * (1 - t)


def _softmax_dx_not_over_n(x, y):
    loss, dx = cs231n_layers.softmax_loss(x, y)
    return loss, dx * x.shape[0]


def _svm_counts_correct_class(x, y):
    N = x.shape[0]
    correct = x[np.arange(N), y]
    margins = np.maximum(0, x - correct[:, None] + 1.0)  # the target's own margin (1) kept
    loss = margins.sum() / N
    positive = (margins > 0).astype(x.dtype)
    positive[np.arange(N), y] = -positive.sum(axis=1)
    return loss, positive / N


def _alt_without_sum(dout, cache):
    xhat, gamma, xc, std, var, eps = cache
    N = dout.shape[0]
    dgamma = (dout * xhat).sum(axis=0)
    return (gamma / (N * std)) * (N * dout - xhat * dgamma), dgamma, dout.sum(axis=0)


def _linear_db_without_1_over_m(dZ, cache):
    dA_prev, dW, db = course_steps.linear_backward(dZ, cache)
    return dA_prev, dW, db * cache[0].shape[1]


def _sigmoid_backward_missing_one_minus(dA, cache):
    s, _ = course_steps.sigmoid(cache)
    return dA * s


def _ng_relu_backward_unmasked(dA, cache):
    return np.array(dA, copy=True)  # dZ = dA, the mask Z > 0 never applied


def _linear_activation_swapped(dA, cache, activation):
    linear_cache, activation_cache = cache
    wrong = {"sigmoid": course_steps.relu_backward, "relu": course_steps.sigmoid_backward}[activation]
    return course_steps.linear_backward(wrong(dA, activation_cache), linear_cache)


CATALOGUE: list[LayerMutant] = [
    LayerMutant("affine_db_first_row", "cs231n", "missing sum over the batch",
                "affine_backward's db is the first example's dout, not the sum over N",
                {"affine_backward": _affine_db_first_row}, {"affine": "db"}, {"N": (2, 8)}),
    LayerMutant("affine_dw_untransposed", "cs231n", "missing transpose",
                "affine_backward's dw = doutᵀ x, the transpose of xᵀ dout",
                {"affine_backward": _affine_dw_untransposed}, {"affine": "dw"}, {"D": (2, 8), "M": (2, 8)}),
    LayerMutant("affine_x_not_reshaped", "cs231n", "shape handling",
                "affine_backward's dw = x.T @ dout with x of shape (N, d1, d2), not read as (N, D)",
                {"affine_backward": _affine_x_not_reshaped}, {"affine": "dw"}, needs={"affine": {"D2": 2}}),
    LayerMutant("relu_output_mask", "cs231n", "activation derivative",
                "relu_backward masks by the sign of dout instead of the forward's input",
                {"relu_backward": _relu_output_mask}, {"relu": "dx"}, {"N": (2, 8), "D": (2, 8)}),
    LayerMutant("sigmoid_at_output", "cs231n", "activation derivative",
                "sigmoid_backward evaluates σ' at the cached output: σ'(σ(x)) instead of σ(x)(1 - σ(x))",
                {"sigmoid_backward": _sigmoid_at_output}, {"sigmoid": "dx"}),
    LayerMutant("softmax_dx_not_over_n", "cs231n", "missing 1/N",
                "softmax_loss's dx is p - onehot(y), not divided by N",
                {"softmax_loss": _softmax_dx_not_over_n}, {"softmax_loss": "dx"}, {"N": (2, 8)}),
    LayerMutant("svm_counts_correct_class", "cs231n", "loss term",
                "svm_loss keeps the correct class's own margin (1 per example) in the loss",
                {"svm_loss": _svm_counts_correct_class}, {"svm_loss": "loss"}),
    LayerMutant("batchnorm_no_mean_term", "cs231n", "missing path (the mean)",
                "batchnorm_backward by the graph, without dμ / N: the path through the batch mean",
                {"batchnorm_backward": buggy_norm_layers.batchnorm_backward}, {"batchnorm": "dx"}),
    LayerMutant("batchnorm_alt_no_mean_term", "cs231n", "missing path (the mean)",
                "batchnorm_backward_alt's N dout - x̂ Σ dout x̂, the Σ dout forgotten",
                {"batchnorm_backward_alt": lambda dout, cache: _alt_without_sum(dout, cache)},
                {"batchnorm_alt": "dx", "spatial_batchnorm": "dx"}),  # spatial batchnorm's backward calls it
    LayerMutant("layernorm_wrong_axis", "cs231n", "wrong axis",
                "layernorm_forward normalizes over the batch (axis 0), not each example's features",
                {"layernorm_forward": buggy_norm_layers.layernorm_forward}, {"layernorm": "out"}, {"N": (2, 6)}),
    LayerMutant("dropout_backward_unscaled", "cs231n", "missing 1/p",
                "dropout_backward masks dout by the keep pattern without its 1/p",
                {"dropout_backward": buggy_norm_layers.dropout_backward}, {"dropout": "dx"},
                settings={"dropout": {"p": (0.5, 0.25, 0.8, 0.3)}}),
    LayerMutant("conv_db_first_example", "cs231n", "missing sum over the batch",
                "conv_backward_naive's db sums dout over the positions of the first example only, not over N",
                {"conv_backward_naive": buggy_spatial_layers.conv_backward_naive}, {"conv_naive": "db"},
                {"N": (2, 2)}),
    LayerMutant("max_pool_routes_to_first_entry", "cs231n", "wrong routing",
                "max_pool_backward_naive sends each window's dout to its top-left entry, not to its max",
                {"max_pool_backward_naive": buggy_spatial_layers.max_pool_backward_naive}, {"max_pool_naive": "dx"},
                settings={"max_pool_naive": {"pool_height": (2, 3), "pool_width": (2, 3)}}),
    LayerMutant("spatial_batchnorm_no_transpose", "cs231n", "wrong axis",
                "spatial_batchnorm_forward reads x (N, C, H, W) as (N·H·W, C) rows by reshape alone, "
                "without moving C last",
                {"spatial_batchnorm_forward": buggy_spatial_layers.spatial_batchnorm_forward},
                {"spatial_batchnorm": "out"}, {"C": (2, 3), "H": (2, 4)}),
    LayerMutant("groupnorm_no_mean_term", "cs231n", "missing path (the mean)",
                "spatial_groupnorm_backward's n dx̂ - x̂ Σ dx̂ x̂, the Σ dx̂ (the path through the group mean) "
                "forgotten",
                {"spatial_groupnorm_backward": buggy_spatial_layers.spatial_groupnorm_backward},
                {"spatial_groupnorm": "dx"}),
    LayerMutant("linear_db_without_1_over_m", "ng", "missing 1/m",
                "linear_backward's db = Σ dZ without the 1/m",
                {"linear_backward": _linear_db_without_1_over_m},
                {"linear": "db", "linear_relu": "db", "linear_sigmoid": "db"}, {"N": (2, 8)}),
    LayerMutant("sigmoid_backward_missing_one_minus", "ng", "activation derivative",
                "sigmoid_backward's dZ = dA σ(Z), the (1 - σ(Z)) forgotten",
                {"sigmoid_backward": _sigmoid_backward_missing_one_minus},
                {"ng_sigmoid": "dZ", "linear_sigmoid": "dA_prev"}),
    LayerMutant("ng_relu_backward_unmasked", "ng", "activation derivative",
                "relu_backward copies dA and never zeroes it where Z <= 0",
                {"relu_backward": _ng_relu_backward_unmasked}, {"ng_relu": "dZ", "linear_relu": "dA_prev"},
                {"N": (2, 8), "D": (2, 8), "M": (2, 8)}),
    LayerMutant("linear_activation_swapped", "ng", "wrong branch",
                "linear_activation_backward calls relu's backward for sigmoid and sigmoid's for relu",
                {"linear_activation_backward": _linear_activation_swapped},
                {"linear_relu": "dA_prev", "linear_sigmoid": "dA_prev"}),
]


# ---------------------------------------------------------------------------------------------
# hunting


@dataclass
class LayerKill(Hunted):
    KIND = "layer_mutant"
    mutant: str
    bug_class: str
    op: str
    expected_first: str
    cases: int = 0
    kills: int = 0
    first_kill: int | None = None
    first_divergence: str | None = None
    mislocalized: list = field(default_factory=list)
    message: str = ""


def mutant_cases(m: LayerMutant, op: str):
    """The op's cases (``ops.cases``) with the dims the bug needs to show."""
    row = ops.get(op)
    ranges = {k: (max(lo, m.dims.get(k, (lo, hi))[0]), min(hi, m.dims.get(k, (lo, hi))[1]))
              for k, (lo, hi) in row.dims.items()}
    dims = st.fixed_dictionaries({k: st.integers(lo, hi) for k, (lo, hi) in ranges.items()})
    extra = m.needs.get(op, {})
    chosen = st.fixed_dictionaries({k: st.sampled_from(v) for k, v in m.settings.get(op, {}).items()})
    return st.builds(lambda d, c, case: {**case, "dims": {**d, **extra}, **({"settings": {**case["settings"], **c}}
                                                                             if c else {})},
                     dims, chosen, ops.cases(op, batched_x=False))


def hunt(m: LayerMutant, op: str, max_cases: int, oracle_names=("torch", "fd"), sut: Sut | None = None) -> LayerKill:
    """Check ``max_cases`` drawn cases of ``op`` against the mutant; every kill must be at ``m.first[op]``."""
    sut = sut or m.sut()
    kill = LayerKill(m.name, m.bug_class, op, m.first[op])

    def observe(case) -> bool:
        kill.cases += 1
        result = check.check(ops.build(case), sut, list(oracle_names))
        if result.verdict == "fail":
            kill.kills += 1
            if kill.first_kill is None:
                kill.first_kill, kill.first_divergence, kill.message = kill.cases, result.first_divergence, \
                    result.message()
            if result.first_divergence != m.first[op]:
                kill.mislocalized.append({"case": result.case, "got": result.first_divergence})
        return False  # look at every case in the budget

    budget = settings(settings.default, max_examples=max_cases, phases=[Phase.generate], database=None,
                      deadline=None, suppress_health_check=list(HealthCheck))
    try:
        find(mutant_cases(m, op), observe, settings=budget)
    except NoSuchExample:
        pass
    return kill


def matrix(kills: list[LayerKill]) -> str:
    lines = ["| mutant | bug class | op | cases that killed it | first kill at case | first wrong output "
             "(expected) | every kill localized |", "|---|---|---|---|---|---|---|"]
    for k in kills:
        lines.append(f"| `{k.mutant}` | {k.bug_class} | `{k.op}` | {k.kills} / {k.cases} | "
                     f"{k.first_kill or '**survived**'} | {k.first_divergence or '-'} ({k.expected_first}) | "
                     f"{'yes' if k.localized else '**no**'} |")
    lines.append(f"\n{sum(k.killed for k in kills)} / {len(kills)} killed, "
                 f"{sum(k.localized for k in kills)} localized")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mutants.layers", description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=50, help="cases to check per mutant and op")
    args = parser.parse_args(argv)
    kills = [hunt(m, op, args.cases) for m in CATALOGUE for op in m.first]
    print(matrix(kills))
    return 0 if all(k.localized for k in kills) else 1


if __name__ == "__main__":
    raise SystemExit(main())

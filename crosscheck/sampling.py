"""Sampled checks for large networks: which entries of each gradient are probed, and how.

Finite differences of every entry cost one pass per unit of every layer, far too many for a
network of a million parameters. A case with ``"sample": {"units": k}`` is checked instead by
probes, linear functionals of each gradient tensor (rows layout):

* entries: for each layer l, k units drawn at random (``units_of``); every entry of dZ_l, dW_l and
  db_l in those units' columns is probed (one complex-step pass per unit gives them all,
  ``oracles.finite_differences``), and one random feature of every example in dA0 (one pass in
  all: the examples are independent);
* a direction: one random vector v over all entries of the tensor, each v_i standard normal,
  probed as <v, dT>; it reaches every entry, so a bug confined to entries the sample missed still
  moves it. Continuous weights, not ±1: errors of equal size (the same wrong term in every example)
  would cancel under ±1 signs as often as the signs balance, and cancel exactly with probability 0
  here.

Oracles that are cheap on a large network (autograd) still answer in full and are compared entry
by entry; an oracle that can probe (``Oracle.probes``) answers only the probes. The draw depends
on the case alone (its ``seed``), so a case's JSON still reproduces the check exactly, and every
comparison states which entries it covered (``Probes.describe``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from crosscheck import contract

ALONG_DIRECTION = "along the random direction"
"""How messages and the report name the direction's probe (its index is [])."""
KINDS = {"dZ": 0, "dW": 1, "db": 2, "dA": 3}
"""Tensor kind -> a stream number, so that each tensor's direction is drawn independently."""


@dataclass(frozen=True)
class Probes:
    """The probes of one gradient tensor (rows layout): some entries, then one random direction."""

    tensor: str
    shape: tuple[int, ...]
    entries: np.ndarray
    """Flat indices (rows layout) of the entries probed one by one, ascending."""
    direction: np.ndarray
    """Standard normal over every entry, in the tensor's shape."""
    units: tuple[int, ...] = ()
    """The sampled units whose columns the entries are (empty for dA0)."""

    @property
    def count(self) -> int:
        return len(self.entries) + 1

    def of(self, array: np.ndarray) -> np.ndarray:
        """The probe values of a full tensor: its probed entries, then <direction, tensor>."""
        a = np.asarray(array, np.float64)
        return np.append(a.reshape(-1)[self.entries], float(np.dot(self.direction.reshape(-1), a.reshape(-1))))

    def index(self, probe: int) -> list[int]:
        """The tensor index of a probe; [] for the direction."""
        if probe >= len(self.entries):
            return []
        return [int(i) for i in np.unravel_index(int(self.entries[probe]), self.shape)]

    def describe(self) -> str:
        total = int(np.prod(self.shape))
        if self.tensor == "dA0":
            where = f"one random feature of each of the {self.shape[0]} examples"
        elif self.tensor.startswith("dW"):
            where = f"the columns of units {list(self.units)} (every row; rows layout, W[i, j] feeds unit j)"
        elif self.tensor.startswith("db"):
            where = f"units {list(self.units)}"
        else:
            where = f"units {list(self.units)} of every example"
        return (f"{len(self.entries)} of {total} entries, {where}; and one random Gaussian direction "
                f"over all {total} entries")


def units_of(case: dict, l: int) -> np.ndarray:
    """The units of layer l whose entries are probed: ``sample.units`` of them, drawn from the seed."""
    n, k = case["sizes"][l], case["sample"]["units"]
    rng = np.random.default_rng([case.get("seed", 0), l, 7])
    return np.sort(rng.choice(n, size=min(k, n), replace=False))


def features_of(case: dict, m: int) -> np.ndarray:
    """One input feature per example, whose entry of dA0 is probed."""
    return np.random.default_rng([case.get("seed", 0), 0, 7]).integers(0, case["sizes"][0], m)


def _direction(case: dict, key: str, shape: tuple[int, ...]) -> np.ndarray:
    kind, l = key[:2], int(key[2:])
    rng = np.random.default_rng([case.get("seed", 0), l, KINDS[kind]])
    return rng.standard_normal(size=shape)


def plan(case: dict, m: int) -> dict[str, Probes]:
    """The probes of every gradient tensor of a sampled case (rows layout, batch m)."""
    shapes = contract.gradient_shapes({**case, "layout": "rows"}, m)
    out = {}
    for key, shape in shapes.items():
        if key == "dA0":
            entries = np.arange(m) * shape[1] + features_of(case, m)
            out[key] = Probes(key, shape, entries, _direction(case, key, shape))
            continue
        units = units_of(case, contract.layer_of(key))
        grid = np.zeros(shape, dtype=bool)
        grid[:, units] = True
        out[key] = Probes(key, shape, np.flatnonzero(grid), _direction(case, key, shape), tuple(int(u) for u in units))
    return out


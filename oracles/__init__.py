"""Independent oracles for the contract's gradients.

Every oracle answers the same question the SUT does, from the same inputs, in float64 and in the
rows layout (the runner converts a columns case both ways): a dict with ``loss`` and ``dW{l}``,
``db{l}``, ``dZ{l}`` for every layer, and ``dA0``. None of them imports the SUT.

    ORACLES[name].available() -> (bool, reason)
    ORACLES[name].gradients(case, params, X, Y) -> dict
    ORACLES[name].probes(case, params, X, Y, probes) -> dict   (only where an oracle can probe)

For a sampled case (``crosscheck.sampling``) an oracle that can probe answers each tensor with its
probe values instead: the probed entries, then the derivative along the tensor's direction.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module


@dataclass(frozen=True)
class Oracle:
    name: str
    module: str
    requires: str | None
    """The framework it needs, imported lazily; None if numpy and scipy suffice."""

    def available(self) -> tuple[bool, str]:
        if self.requires is None or sys.modules.get(self.requires) is not None:
            return True, ""
        try:
            import_module(self.requires)
        except Exception as exc:  # a broken install is as absent as a missing one
            return False, f"{self.requires} is not importable: {exc}"
        return True, ""

    @property
    def gradients(self) -> Callable:
        return self._module().gradients

    @property
    def probes(self) -> Callable | None:
        """``probed(case, params, X, Y, probes)`` when the oracle can answer a sampled case's probes
        alone (``crosscheck.sampling``); None when it always answers in full."""
        return getattr(self._module(), "probed", None)

    @property
    def ops(self) -> Callable | None:
        """``op_gradients(op, inputs)`` for one layer op (``crosscheck.ops``); None where the oracle
        does not check ops (JAX: every new shape costs it a compile)."""
        return getattr(self._module(), "op_gradients", None)

    @property
    def underflow_gain(self) -> float:
        """How much an underflow inside the oracle is amplified in its answer (1 for autograd)."""
        return getattr(self._module(), "UNDERFLOW_GAIN", 1.0)

    def _module(self):
        """The oracle's module, imported on first use (a lookup after that: an oracle is asked for it every case)."""
        return sys.modules.get(self.module) or import_module(self.module)


ORACLES: dict[str, Oracle] = {
    o.name: o
    for o in [
        Oracle("torch", "oracles.torch_oracle", "torch"),
        Oracle("jax", "oracles.jax_oracle", "jax"),
        Oracle("fd", "oracles.finite_differences", None),
    ]
}

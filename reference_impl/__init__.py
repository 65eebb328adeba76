"""The reference system under test: a NumPy MLP with hand-written backprop (see ``mlp``)."""

from reference_impl.activations import ACTIVATIONS
from reference_impl.losses import LOSSES
from reference_impl.mlp import backprop, backward, forward, sgd_step

supports = {
    "activations": list(ACTIVATIONS),
    "losses": list(LOSSES),
    "layouts": ["rows", "columns"],
    "dtypes": ["float64", "float32"],
    "reductions": ["mean", "sum"],
}
backprop.supports = supports

__all__ = ["backprop", "forward", "backward", "sgd_step", "supports"]

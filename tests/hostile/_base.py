"""The correct answer every hostile SUT starts from, and the switch that picks its victims."""

from reference_impl import backprop as correct


def victim(case):
    """The cases a hostile SUT misbehaves on: float32 ones (float64 cases are answered correctly)."""
    return case["dtype"] == "float32"


__all__ = ["correct", "victim"]

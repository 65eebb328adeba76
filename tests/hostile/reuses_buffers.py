"""Writes every answer into the same output buffers, and gets the first call wrong."""

import numpy as np
from _base import correct

_buffers = {}


def backprop(case, params, X, Y):
    out = correct(case, params, X, Y)
    first_use = not _buffers
    for key, value in out.items():
        if isinstance(value, np.ndarray):
            buf = _buffers.get(key)
            if buf is None or buf.shape != value.shape or buf.dtype != value.dtype:
                buf = _buffers[key] = np.empty_like(value)
            buf[...] = value * (2 if first_use else 1)
            out[key] = buf
    return out

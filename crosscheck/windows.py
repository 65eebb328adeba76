"""The windows of a spatial op (conv, max-pool), by indexing alone so that complex values pass through.

``windows`` gathers every (HH, WW) window of a zero-padded (N, C, H, W) array at a stride, and
``scatter`` adds window-shaped values back onto the array's entries (the transpose of ``windows``,
padding cropped). The harness forwards (``crosscheck.ops``) and the error model
(``crosscheck.tolerance``) both read conv and max-pool through these two functions.
"""

from __future__ import annotations

import numpy as np


def out_size(size: int, k: int, stride: int, pad: int) -> int:
    """(size + 2 pad - k) / stride + 1: the output extent (the case's sizes divide exactly)."""
    return (size + 2 * pad - k) // stride + 1


def _index(H, W, HH, WW, stride, pad):
    Ho, Wo = out_size(H, HH, stride, pad), out_size(W, WW, stride, pad)
    i = (np.arange(Ho) * stride)[:, None] + np.arange(HH)[None, :]  # (Ho, HH): rows of the padded array
    j = (np.arange(Wo) * stride)[:, None] + np.arange(WW)[None, :]
    return i[:, None, :, None], j[None, :, None, :]  # broadcast to (Ho, Wo, HH, WW)


def windows(x: np.ndarray, HH: int, WW: int, stride: int, pad: int = 0) -> np.ndarray:
    """(N, C, Ho, Wo, HH, WW): window (ho, wo) of every channel of the zero-padded x."""
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    i, j = _index(x.shape[2], x.shape[3], HH, WW, stride, pad)
    return xp[:, :, i, j]


def scatter(values: np.ndarray, shape: tuple, stride: int, pad: int = 0) -> np.ndarray:
    """The transpose of ``windows``: (N, C, Ho, Wo, HH, WW) values summed onto an array of ``shape``."""
    N, C, H, W = shape
    HH, WW = values.shape[-2:]
    out = np.zeros((N, C, H + 2 * pad, W + 2 * pad), values.dtype)
    i, j = _index(H, W, HH, WW, stride, pad)
    i, j = np.broadcast_to(i, values.shape[2:]), np.broadcast_to(j, values.shape[2:])
    np.add.at(out, (slice(None), slice(None), i, j), values)
    return out[:, :, pad:pad + H, pad:pad + W]

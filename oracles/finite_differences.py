"""Finite differences of a float64 forward: every entry of every W, b, Z (and X).

The default method is the complex step, J'(θ)·e ≈ Im J(θ + i h e) / h. It has no subtractive
cancellation, so h can be tiny (1e-20: truncation h^2 is far below rounding) and the result is accurate to float64 rounding. The forward
(``crosscheck.activations`` / ``crosscheck.losses``) picks branches on the real part, which the step
leaves untouched, so relu, leaky_relu and hinge get the derivative of the branch the point lies on.

``method="richardson"`` gives central differences with one Richardson extrapolation instead, with
a per-entry step h_i = ε^(1/3) max(1, |θ_i|) (ε = 2^-52); it also returns ``error_estimate``.

Structure keeps it cheap: perturbing W_l[i, j] moves only column j of Z_l, by h A_{l-1}[:, i]; and a
Z_l entry moves only its own example's loss, so one pass per unit j gives dZ_l[:, j] for every
example at once (the per-example losses are kept apart). All perturbations of one layer run as one
batched forward, in chunks that keep memory bounded.
"""

from __future__ import annotations

import numpy as np

from crosscheck import activations, losses

COMPLEX_STEP = 1e-20
UNDERFLOW_GAIN = 1 / COMPLEX_STEP
"""Im(f) is h times the derivative, so an underflow in Im(f) costs eta / h in the derivative."""
CHUNK_ELEMENTS = 2**22  # complex entries per batched forward (64 MiB)


def _forward_from(case, l, Z, params, Y):
    """Per-example losses from Z_l (shape (P, m, n_l)) through layers l..L: shape (P, m)."""
    names, L = case["activations"], len(case["activations"])
    on_logits = losses.ON_LOGITS.get((names[-1], case["loss"]))
    for k in range(l, L + 1):
        if k > l:
            Z = A @ params[f"W{k}"] + params[f"b{k}"]
        if k == L and on_logits:
            return losses.get(on_logits).value(Z, Y)
        A = activations.get(names[k - 1]).value(Z)
    return losses.get(case["loss"]).value(A, Y)


def _directional(case, l, Z, directions, params, Y, method):
    """Per-example directional derivatives of the losses along Z_l + t * d, d in directions (P, m, n)."""
    P = directions.shape[0]
    chunk = max(1, CHUNK_ELEMENTS // (Z.shape[0] * max(case["sizes"])))
    out = np.empty((P, Z.shape[0]))
    est = np.zeros((P, Z.shape[0]))
    for start in range(0, P, chunk):
        d = directions[start:start + chunk]
        if method == "complex":
            with np.errstate(all="ignore"):
                f = _forward_from(case, l, Z + 1j * COMPLEX_STEP * d, params, Y)
            out[start:start + chunk] = f.imag / COMPLEX_STEP
        else:
            out[start:start + chunk], est[start:start + chunk] = _richardson(case, l, Z, d, params, Y)
    return out, est


def _richardson(case, l, Z, d, params, Y):
    # d is already scaled by its step h, so t = ±1 and ±1/2; divide by h afterwards
    def central(t):
        return (_forward_from(case, l, Z + t * d, params, Y) - _forward_from(case, l, Z - t * d, params, Y)) / (2 * t)

    coarse, fine = central(1.0), central(0.5)
    extrapolated = (4 * fine - coarse) / 3
    return extrapolated, np.abs(extrapolated - fine)


def gradients(case, params, X, Y, method="complex"):
    """Every gradient of the contract by finite differences (rows layout, float64)."""
    if method not in ("complex", "richardson"):
        raise ValueError(f"unknown method {method!r}; valid: complex, richardson")
    params = {k: np.asarray(v, dtype=np.float64) for k, v in params.items()}
    X, Y = np.asarray(X, dtype=np.float64), np.asarray(Y, dtype=np.float64)
    L, m = len(case["activations"]), X.shape[0]
    r = 1.0 / m if case["reduction"] == "mean" else 1.0
    steps = {}

    def step(values):
        # complex step: any tiny h works; central differences balance truncation and rounding
        if method == "complex":
            return np.ones_like(values)
        return np.finfo(np.float64).eps ** (1 / 3) * np.maximum(1.0, np.abs(values))

    A = [X]
    Z = [None]
    for l in range(1, L + 1):
        Z.append(A[-1] @ params[f"W{l}"] + params[f"b{l}"])
        A.append(activations.get(case["activations"][l - 1]).value(Z[l]))
    per_example = losses.get(case["loss"]).value(A[L], Y)
    out = {"loss": float(r * per_example.sum())}
    error = {}

    for l in range(1, L + 1):
        n_prev, n = params[f"W{l}"].shape
        # Z_l entries (and b_l): one direction per unit j, covering every example at once
        hz = step(Z[l])
        dirs = np.zeros((n, m, n))
        for j in range(n):
            dirs[j, :, j] = hz[:, j]
        dz, ez = _directional(case, l, Z[l], dirs, params, Y, method)
        out[f"dZ{l}"] = r * (dz / hz.T).T
        # db_l[j] moves every example's Z_l[:, j] together
        hb = step(params[f"b{l}"])[0]
        dirs = np.zeros((n, m, n))
        for j in range(n):
            dirs[j, :, j] = hb[j]
        db, eb = _directional(case, l, Z[l], dirs, params, Y, method)
        out[f"db{l}"] = r * (db.sum(1) / hb)[None, :]
        # W_l[i, j] moves column j of Z_l by h A_{l-1}[:, i]
        hw = step(params[f"W{l}"])
        dirs = np.zeros((n_prev * n, m, n))
        for i in range(n_prev):
            for j in range(n):
                dirs[i * n + j, :, j] = hw[i, j] * A[l - 1][:, i]
        dw, ew = _directional(case, l, Z[l], dirs, params, Y, method)
        out[f"dW{l}"] = r * dw.sum(1).reshape(n_prev, n) / hw
        if method == "richardson":
            error[f"dZ{l}"] = r * (ez / hz.T).T
            error[f"db{l}"] = r * (eb.sum(1) / hb)[None, :]
            error[f"dW{l}"] = r * ew.sum(1).reshape(n_prev, n) / hw

    # X entries: X[:, i] moves Z_1 by h W_1[i, :], one example at a time
    hx = step(X)
    n0, n1 = params["W1"].shape
    dirs = np.zeros((n0, m, n1))
    for i in range(n0):
        dirs[i] = hx[:, i:i + 1] * params["W1"][i][None, :]
    dx, ex = _directional(case, 1, Z[1], dirs, params, Y, method)
    out["dA0"] = r * (dx / hx.T).T
    if method == "richardson":
        error["dA0"] = r * (ex / hx.T).T
        out["error_estimate"] = error
    return out

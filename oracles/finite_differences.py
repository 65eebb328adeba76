"""Finite differences of a float64 forward: every entry of every W, b, Z (and X).

The method is the complex step, J'(θ)·e ≈ Im J(θ + i h e) / h. It has no subtractive
cancellation, so h can be tiny (1e-20: the h^2 truncation is far below rounding) and the result
is accurate to float64 rounding. The forward
(``crosscheck.activations`` / ``crosscheck.losses``) picks branches on the real part, which the step
leaves untouched, so relu, leaky_relu and hinge get the derivative of the branch the point lies on.

Because the step causes no cancellation, one step serves every entry: there is no per-entry
trade-off between truncation and rounding to tune, as there is for real central differences.

Structure keeps it cheap: a Z_l entry moves only its own example's loss, so one pass per unit j
gives dZ_l[:, j] for every example at once (the per-example losses are kept apart); and
perturbing W_l[i, j] moves only column j of Z_l, by h A_{l-1}[:, i], so the same pass gives
column j of dW_l (see ``gradients``). All perturbations of one layer run as one batched forward,
in chunks that keep memory bounded.
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
    for k in range(l, L):
        A = activations.get(names[k - 1]).value(Z)
        Z = A @ params[f"W{k + 1}"] + params[f"b{k + 1}"]
    if on_logits:
        return losses.get(on_logits).value(Z, Y)
    return losses.get(case["loss"]).value(activations.get(names[-1]).value(Z), Y)


def _directional(case, l, Z, directions, params, Y):
    """Per-example directional derivatives of the losses along Z_l + t d, for d in directions (P, m, n)."""
    P = directions.shape[0]
    chunk = max(1, CHUNK_ELEMENTS // (Z.shape[0] * max(case["sizes"])))
    out = np.empty((P, Z.shape[0]))
    for start in range(0, P, chunk):
        with np.errstate(all="ignore"):
            f = _forward_from(case, l, Z + 1j * COMPLEX_STEP * directions[start:start + chunk], params, Y)
        out[start:start + chunk] = f.imag / COMPLEX_STEP
    return out


def _forward(case, params, X, Y):
    """float64 inputs, the A and Z of every layer (Z[0] unused), r, and {'loss': J}."""
    params = {k: np.asarray(v, dtype=np.float64) for k, v in params.items()}
    X, Y = np.asarray(X, dtype=np.float64), np.asarray(Y, dtype=np.float64)
    r = 1.0 / X.shape[0] if case["reduction"] == "mean" else 1.0
    A, Z = [X], [None]
    for l in range(1, len(case["activations"]) + 1):
        Z.append(A[-1] @ params[f"W{l}"] + params[f"b{l}"])
        A.append(activations.get(case["activations"][l - 1]).value(Z[l]))
    return params, X, Y, A, Z, r, {"loss": float(r * losses.get(case["loss"]).value(A[-1], Y).sum())}


def gradients(case, params, X, Y, weights="per_unit"):
    """Every gradient of the contract by complex-step differences (rows layout, float64).

    ``weights="per_unit"`` (the default) gets all of column j of dW_l, and dA0, from the one
    batched pass that perturbs column j of Z_l: W_l[i, j] moves that column by A_{l-1}[:, i], and
    the complex step is linear in its direction, so Im J(W_l + ih E_ij) / h is
    sum_e A_{l-1}[e, i] Im loss_e(Z_l + ih e_j) / h. ``weights="per_entry"`` perturbs every W_l and X
    entry in a pass of its own instead: the same numbers, n_{l-1} times the work.
    """
    if weights not in ("per_unit", "per_entry"):
        raise ValueError(f"unknown weights mode {weights!r}; valid: per_unit, per_entry")
    params, X, Y, A, Z, r, out = _forward(case, params, X, Y)
    L, m = len(Z) - 1, X.shape[0]

    for l in range(1, L + 1):
        n_prev, n = params[f"W{l}"].shape
        # a Z_l entry moves only its own example's loss: one direction per unit j covers every example
        units = np.zeros((n, m, n))
        units[np.arange(n), :, np.arange(n)] = 1.0
        per_example = _directional(case, l, Z[l], units, params, Y)   # (n, m): d loss_e / d Z_l[e, j]
        out[f"dZ{l}"] = r * per_example.T
        # b_l[j] moves the whole column Z_l[:, j]
        out[f"db{l}"] = r * per_example.sum(1)[None, :]
        if weights == "per_unit":
            out[f"dW{l}"] = r * A[l - 1].T @ per_example.T
        else:  # W_l[i, j] moves column j of Z_l by A_{l-1}[:, i]
            dirs = np.zeros((n_prev, n, m, n))
            dirs[:, np.arange(n), :, np.arange(n)] = A[l - 1].T[None, :, :]
            dirs = dirs.reshape(n_prev * n, m, n)
            out[f"dW{l}"] = r * _directional(case, l, Z[l], dirs, params, Y).sum(1).reshape(n_prev, n)
        if l == 1:
            if weights == "per_unit":
                out["dA0"] = r * per_example.T @ params["W1"].T
            else:  # X[:, i] moves Z_1 by W_1[i, :], each example on its own
                dirs = np.broadcast_to(params["W1"][:, None, :], (n_prev, m, n))
                out["dA0"] = r * _directional(case, 1, Z[1], dirs, params, Y).T
    return out


def probed(case, params, X, Y, probes):
    """The probes of every gradient (``crosscheck.sampling``): for each tensor its probed entries, then
    its derivative along its direction.

    One batched pass per layer l perturbs Z_l along: each sampled unit's column (giving that
    column of dZ_l, dW_l and db_l, as in ``gradients``); A_{l-1} v (the direction v of W_l, since
    W_l + t v moves Z_l by t A_{l-1} v); v broadcast over the examples (b_l); v itself (Z_l); and,
    in layer 1, row e of X's direction times W_1, and W_1[i_e, :] in row e for the probed feature
    i_e of every example at once (the examples are independent).
    """
    params, X, Y, A, Z, r, out = _forward(case, params, X, Y)
    L, m = len(Z) - 1, X.shape[0]
    for l in range(1, L + 1):
        n = Z[l].shape[1]
        units = np.asarray(probes[f"dZ{l}"].units, dtype=int)
        k = len(units)
        dirs = np.zeros((k + (5 if l == 1 else 3), m, n))
        dirs[np.arange(k), :, units] = 1.0
        dirs[k] = A[l - 1] @ probes[f"dW{l}"].direction
        dirs[k + 1] = probes[f"db{l}"].direction
        dirs[k + 2] = probes[f"dZ{l}"].direction
        if l == 1:
            features = probes["dA0"].entries % X.shape[1]  # one per example, in example order
            dirs[k + 3] = params["W1"][features]
            dirs[k + 4] = probes["dA0"].direction @ params["W1"]
        per_example = _directional(case, l, Z[l], dirs, params, Y)  # (directions, m)
        columns = {
            f"dZ{l}": (np.full((m, n), np.nan), r * per_example[:k].T),
            f"dW{l}": (np.full((A[l - 1].shape[1], n), np.nan), r * A[l - 1].T @ per_example[:k].T),
            f"db{l}": (np.full((1, n), np.nan), r * per_example[:k].sum(1)[None, :]),
        }
        for along, key in enumerate((f"dW{l}", f"db{l}", f"dZ{l}"), start=k):
            full, cols = columns[key]
            full[:, units] = cols
            out[key] = np.append(full.reshape(-1)[probes[key].entries], r * per_example[along].sum())
        if l == 1:
            out["dA0"] = np.append(r * per_example[k + 3], r * per_example[k + 4].sum())
    return out


def op_gradients(op, inputs):
    """One layer op (``crosscheck.ops``) by the complex step through the harness's own forward: each
    input entry perturbed on its own (the ops' sizes are small), the derivative of <dout, out> (or
    of the loss), scaled as the row states; the forward outputs are the harness forward's."""
    x = {k: v if v.dtype.kind in "iu" else np.asarray(v, np.float64) for k, v in inputs.items()}

    def scalar(values):
        with np.errstate(all="ignore"):
            outs = op.forward(*(values[i.name] for i in op.inputs))
        if op.upstream is None:
            return outs[0]
        return sum((o * values[op.upstream]).sum() for o in outs)

    with np.errstate(all="ignore"):
        outs = op.forward(*(x[i.name] for i in op.inputs))
    answer = {name: (float(np.real(o)) if name == "loss" else np.real(o))
              for name, o in zip(op.outputs, outs, strict=True)}
    scale = op.scale(inputs) if op.scale else {}
    for g, w in zip(op.gradients, op.wrt, strict=True):
        grad = np.empty(x[w].shape)
        for index in np.ndindex(*x[w].shape):
            stepped = dict(x)
            stepped[w] = x[w].astype(np.complex128)
            stepped[w][index] += 1j * COMPLEX_STEP
            grad[index] = np.imag(scalar(stepped)) / COMPLEX_STEP
        answer[g] = grad * scale.get(g, 1.0)
    return answer

"""PyTorch autograd over torch's own ops, float64; dZ_l comes from ``retain_grad``."""

import torch
import torch.nn.functional as F

ACTIVATIONS = {
    "identity": lambda z: z,
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "relu": F.relu,
    # F.leaky_relu takes the 0.01 slope at z = 0; the contract's slope there is 1
    "leaky_relu": lambda z: torch.where(z >= 0, z, 0.01 * z),
    "elu": F.elu,
    # F.softplus returns z itself past its threshold (20), which is off by e^-20 there
    "softplus": lambda z: torch.logaddexp(z, torch.zeros_like(z)),
    "silu": F.silu,
    "gelu": lambda z: F.gelu(z, approximate="none"),
    "softmax": lambda z: torch.softmax(z, dim=1),
}

# per-example losses, (m, K) -> (m,)
LOSSES = {
    "sse": lambda a, y: F.mse_loss(a, y, reduction="none").sum(1),
    "half_sse": lambda a, y: 0.5 * F.mse_loss(a, y, reduction="none").sum(1),
    "mse": lambda a, y: F.mse_loss(a, y, reduction="none").mean(1),
    "bce": lambda a, y: F.binary_cross_entropy(a, y, reduction="none").sum(1),
    "cross_entropy": lambda a, y: -(torch.xlogy(y, a)).sum(1),
    "softmax_cross_entropy": lambda a, y: F.cross_entropy(a, y, reduction="none"),
    "bce_with_logits": lambda a, y: F.binary_cross_entropy_with_logits(a, y, reduction="none").sum(1),
    # multi_margin_loss averages over the K classes; the contract sums
    "hinge": lambda a, y: a.shape[1] * F.multi_margin_loss(a, y.argmax(1), margin=1.0, reduction="none"),
}


def gradients(case, params, X, Y):
    def leaf(array):
        return torch.tensor(array, dtype=torch.float64, requires_grad=True)

    L = len(case["activations"])
    W = {l: leaf(params[f"W{l}"]) for l in range(1, L + 1)}
    b = {l: leaf(params[f"b{l}"]) for l in range(1, L + 1)}
    A0 = leaf(X)
    A, Z = A0, {}
    for l, name in enumerate(case["activations"], start=1):
        Z[l] = A @ W[l] + b[l]
        Z[l].retain_grad()
        A = ACTIVATIONS[name](Z[l])
    per_example = LOSSES[case["loss"]](A, torch.tensor(Y, dtype=torch.float64))
    J = per_example.mean() if case["reduction"] == "mean" else per_example.sum()
    J.backward()
    out = {"loss": J.item(), "dA0": A0.grad.numpy()}
    for l in range(1, L + 1):
        out[f"dW{l}"], out[f"db{l}"], out[f"dZ{l}"] = W[l].grad.numpy(), b[l].grad.numpy(), Z[l].grad.numpy()
    return out


def op_gradients(op, inputs):
    """One layer op (``crosscheck.ops``): its forward outputs by the row's torch forward, and autograd's
    gradients of <dout, out> (or of the loss) with respect to each input, scaled as the row states."""
    tensors = {}
    for inp in op.inputs:
        value = inputs[inp.name]
        if value.dtype.kind in "iu":
            tensors[inp.name] = torch.tensor(value, dtype=torch.int64)
        else:
            tensors[inp.name] = torch.tensor(value, dtype=torch.float64, requires_grad=inp.name in op.wrt)
    outs = op.torch_forward(torch, *(tensors[i.name] for i in op.inputs))
    if op.upstream is None:
        scalar = outs[0]
    else:
        scalar = sum((o * tensors[op.upstream]).sum() for o in outs)
    scalar.backward()
    answer = {name: (o.item() if name == "loss" else o.detach().numpy())
              for name, o in zip(op.outputs, outs, strict=True)}
    scale = op.scale(inputs) if op.scale else {}
    for g, w in zip(op.gradients, op.wrt, strict=True):
        answer[g] = tensors[w].grad.numpy() * scale.get(g, 1.0)
    return answer

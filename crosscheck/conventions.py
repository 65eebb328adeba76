"""Conventions: code as it is really written, in front of the one harness.

A convention turns what ``--sut`` names (a function, a module of course functions, a network
class, a model class) into the contract's ``backprop(case, params, X, Y) -> dict``, and states
what that code does: its layout, batch scaling, bias shape, label format, architecture and which
outputs it returns, as contract 1.1 ``supports``. It never infers any of these from the answers
(inferring would let a forgotten mean pass as "a different convention"). The checks, oracles,
tolerance, records and report never learn a convention's name.

An adapter runs where the SUT runs (``crosscheck.boundary``), so a stateful object is built there,
afresh for each call.

| name | --sut names | what the code is |
|---|---|---|
| contract | a function | ``backprop(case, params, X, Y)`` (docs/contract.md) |
| ng | a module | ``L_model_forward``, ``L_model_backward``, ``compute_cost`` (deeplearning.ai) |
| nielsen | a class | ``Network(sizes)`` with ``weights``, ``biases`` and a per-example ``backprop(x, y)`` |
| cs231n | a class | ``FullyConnectedNet(...)`` (or ``TwoLayerNet``) with ``params`` and ``loss(X, y)`` |
| layers | a mapping | layer objects with forward and backward methods (``LAYER_KEYS``) |
| cs231n-layers | a module | layer functions, one op at a time (``--layers``; ``crosscheck.ops``) |
| ng-steps | a module | the course's step functions, one op at a time (``--layers``) |
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from crosscheck import contract

DEFAULT = "contract"


class ConventionError(ValueError):
    """What ``--sut`` names does not have the shape its convention needs."""


@dataclass(frozen=True)
class Convention:
    name: str
    states: str
    """The scaling, layout, bias shape and label format, in words (``--help``, docs, the record)."""
    target: str
    """What --sut names: 'function', 'module' or 'class'."""
    adapt: Callable
    """(the named object) -> (backprop, supports): the contract function and what the code does."""


# ---------------------------------------------------------------------------------------------
# format adapters of contract 1.1: what a plain contract function may declare


def _one_d_bias(b):
    return np.asarray(b).reshape(-1)


def _back_to_2d(db, shape):
    """A 1-D db of the right length back to the contract's shape; anything else as it is, for the
    contract check to name."""
    n = int(np.prod(shape))
    return db.reshape(shape) if isinstance(db, np.ndarray) and db.shape == (n,) else db


def _one_d(db, shape, name: str):
    """A db the convention says is 1-D, back in the contract's shape; any other shape is the code's bug."""
    n = int(np.prod(shape))
    if isinstance(db, np.ndarray) and db.shape != (n,):
        raise ConventionError(f"{name} has shape {db.shape}; this convention's biases and their gradients are "
                              f"1-D, ({n},)")
    return _back_to_2d(db, shape)


def formats(fn: Callable, supports: dict | None) -> Callable:
    """The contract function behind a SUT that declares integer labels or 1-D biases (contract 1.1)."""
    declared = contract.declared(supports)
    if declared["labels"] == "onehot" and declared["bias"] == "2d":
        return fn
    from crosscheck import losses

    def backprop(case, params, X, Y):
        columns = case["layout"] == "columns"
        given_params, given_Y = params, Y
        if declared["bias"] == "1d":
            given_params = {k: _one_d_bias(v) if k.startswith("b") else v for k, v in params.items()}
        if declared["labels"] == "integer" and losses.get(case["loss"]).targets == "onehot":
            given_Y = np.argmax(Y, axis=0 if columns else 1)
        out = fn(case, given_params, X, given_Y)
        if declared["bias"] == "1d" and isinstance(out, dict):
            out = {k: _one_d(v, params[k[1:]].shape, k) if k.startswith("db") and k[1:] in params else v
                   for k, v in out.items()}
        return out

    return backprop


# ---------------------------------------------------------------------------------------------
# ng: the deeplearning.ai course's functions


def _ng(module):
    missing = [f for f in ("L_model_forward", "L_model_backward") if not callable(getattr(module, f, None))]
    if missing:
        raise ConventionError(f"convention ng needs a module with L_model_forward and L_model_backward; "
                              f"{getattr(module, '__name__', module)!r} lacks {', '.join(missing)}")
    forward, backward = module.L_model_forward, module.L_model_backward
    cost = getattr(module, "compute_cost", None)

    def backprop(case, params, X, Y):
        AL, caches = forward(X, dict(params))
        grads = backward(AL, Y, caches)
        L, m = len(case["sizes"]) - 1, X.shape[1]
        out = {key: grads[key] for l in range(1, L + 1) for key in (f"dW{l}", f"db{l}") if key in grads}
        if "dA0" in grads:  # the course's dA is of the summed loss: the 1/m sits in linear_backward
            out["dA0"] = grads["dA0"] / np.asarray(m, dtype=np.asarray(grads["dA0"]).dtype)
        if callable(cost):
            out["loss"] = np.squeeze(cost(AL, Y))  # the course's cost is a 0-d array
        return out

    supports = {"hidden_activations": ["relu"], "output_activations": ["sigmoid"], "losses": ["bce"],
                "layouts": ["columns"], "reductions": ["mean"],
                "returns": ["dA0"] + (["loss"] if callable(cost) else [])}
    return backprop, supports


# ---------------------------------------------------------------------------------------------
# nielsen: a network class with a per-example backprop


def _takes(cls, name: str) -> bool:
    try:
        return name in inspect.signature(cls).parameters
    except (TypeError, ValueError):
        return False


def _nielsen(cls):
    if not inspect.isclass(cls) or not callable(getattr(cls, "backprop", None)):
        raise ConventionError(f"convention nielsen needs a network class with backprop(x, y); got {cls!r}")
    module = inspect.getmodule(cls)
    costs = {"half_sse": getattr(module, "QuadraticCost", None), "bce": getattr(module, "CrossEntropyCost", None)}
    takes_cost = _takes(cls, "cost")
    losses_ = ["half_sse"] + (["bce"] if takes_cost and costs["bce"] is not None else [])

    def backprop(case, params, X, Y):
        sizes, L, m = list(case["sizes"]), len(case["sizes"]) - 1, X.shape[1]
        net = cls(sizes, cost=costs[case["loss"]]) if takes_cost else cls(sizes)  # afresh: it keeps state
        net.weights = [params[f"W{l}"] for l in range(1, L + 1)]
        net.biases = [params[f"b{l}"] for l in range(1, L + 1)]
        sum_b = sum_w = None
        for i in range(m):  # update_mini_batch's loop: one example at a time, summed
            nabla_b, nabla_w = net.backprop(X[:, i:i + 1], Y[:, i:i + 1])
            sum_b = list(nabla_b) if sum_b is None else [s + n for s, n in zip(sum_b, nabla_b, strict=True)]
            sum_w = list(nabla_w) if sum_w is None else [s + n for s, n in zip(sum_w, nabla_w, strict=True)]
        scale = (lambda a: a / np.asarray(m, np.asarray(a).dtype)) if case["reduction"] == "mean" else (lambda a: a)
        out = {}
        for l in range(1, L + 1):
            out[f"dW{l}"], out[f"db{l}"] = scale(sum_w[l - 1]), scale(sum_b[l - 1])
        cost = getattr(net, "cost", None)
        if cost is not None and callable(getattr(cost, "fn", None)) and callable(getattr(net, "feedforward", None)):
            total = sum(float(cost.fn(net.feedforward(X[:, i:i + 1]), Y[:, i:i + 1])) for i in range(m))
            out["loss"] = total / m if case["reduction"] == "mean" else total
        return out

    has_loss = takes_cost and all(c is not None and callable(getattr(c, "fn", None)) for c in costs.values()
                                  if c is not None)
    supports = {"activations": ["sigmoid"], "losses": losses_, "layouts": ["columns"],
                "returns": ["loss"] if has_loss else []}
    return backprop, supports


# ---------------------------------------------------------------------------------------------
# cs231n: a model class with loss(X, y) -> (loss, grads)


def _cs231n(cls):
    if not inspect.isclass(cls) or not callable(getattr(cls, "loss", None)):
        raise ConventionError(f"convention cs231n needs a model class with loss(X, y); got {cls!r}")
    two_layer = _takes(cls, "hidden_dim") and not _takes(cls, "hidden_dims")

    def backprop(case, params, X, Y):
        sizes, L = case["sizes"], len(case["sizes"]) - 1
        wanted = {"input_dim": sizes[0], "num_classes": sizes[-1], "reg": 0.0, "dtype": np.dtype(case["dtype"]).type,
                  "hidden_dims": list(sizes[1:-1]), "hidden_dim": sizes[1] if L == 2 else None}
        model = cls(**{k: v for k, v in wanted.items() if _takes(cls, k)})  # afresh: it keeps state
        model.params = {}
        for l in range(1, L + 1):
            model.params[f"W{l}"] = params[f"W{l}"]
            model.params[f"b{l}"] = _one_d_bias(params[f"b{l}"])  # the model's biases are 1-D
        loss, grads = model.loss(X, np.argmax(Y, axis=1))  # integer labels
        out = {"loss": loss}
        for l in range(1, L + 1):
            out[f"dW{l}"] = grads.get(f"W{l}")
            out[f"db{l}"] = _one_d(grads.get(f"b{l}"), params[f"b{l}"].shape, f"grads['b{l}']")
        return out

    supports = {"hidden_activations": ["relu"], "output_activations": ["identity"],
                "losses": ["softmax_cross_entropy"], "layouts": ["rows"], "reductions": ["mean"], "returns": ["loss"]}
    if two_layer:
        supports["depths"] = [2]
    return backprop, supports


# ---------------------------------------------------------------------------------------------
# layers: layer objects with forward and backward methods, described by a mapping


LAYER_KEYS = {
    "dense": "callable (n_in, n_out) -> a fully connected layer object",
    "activations": "{contract activation name: callable () -> an activation layer object}",
    "losses": "{contract loss name: callable () -> a loss object}",
    "loss_methods": "(value, gradient) method names of a loss object: value(y, a) and gradient(y, a) = "
                    "d value / d a, per entry or per example (default ('loss', 'gradient'))",
    "forward": "the layers' forward method, forward(X) -> out (default 'forward')",
    "backward": "the layers' backward method, backward(d_out) -> d_in (default 'backward')",
    "weights": "where a dense layer keeps W: an attribute path such as 'W' or 'params.W' (default 'W')",
    "bias": "where it keeps b (default 'b')",
    "bias_shape": "'2d' ((1, n), the default) or '1d'",
    "gradients": "{'W': path, 'b': path} where dW and db are found after backward, or 'optimizer' when "
                 "backward passes them to an optimizer's update(param, grad)",
    "initialize": "with gradients 'optimizer': the dense layer's method that takes the optimizer",
    "mean_inside": "True when the library's loss gradient already divides by the batch size (then it "
                   "takes mean cases only); False, the default, when the layers' gradients are of the summed loss",
}
"""The mapping a layer library is described by (the ``layers`` convention); the layout is rows."""


def _get(obj, path: str):
    for part in path.split("."):
        obj = obj[part] if isinstance(obj, dict) else getattr(obj, part)
    return obj


def _set(obj, path: str, value) -> None:
    *head, last = path.split(".")
    for part in head:
        obj = obj[part] if isinstance(obj, dict) else getattr(obj, part)
    if isinstance(obj, dict):
        obj[last] = value
    else:
        setattr(obj, last, value)


class _Recorder:
    """An optimizer that records what backward hands it and changes nothing."""

    def __init__(self, seen):
        self.seen = seen

    def update(self, param, grad):
        self.seen.append((param, grad))
        return param

    def __copy__(self):  # a layer that copies its optimizer keeps recording into the same list
        return self

    def __deepcopy__(self, memo):
        return self


def _layers(mapping):
    if not isinstance(mapping, dict) or "dense" not in mapping:
        raise ConventionError("convention layers needs a mapping (a dict) with at least 'dense', 'activations' "
                              f"and 'losses'; its keys: {', '.join(LAYER_KEYS)}")
    unknown = sorted(set(mapping) - set(LAYER_KEYS))
    if unknown:
        raise ConventionError(f"the layers mapping has unknown keys {unknown}; valid: {', '.join(LAYER_KEYS)}")
    m_ = {"loss_methods": ("loss", "gradient"), "forward": "forward", "backward": "backward", "weights": "W",
          "bias": "b", "bias_shape": "2d", "gradients": {"W": "dW", "b": "db"}, "activations": {}, "losses": {},
          **mapping}
    value_of, gradient_of = m_["loss_methods"]
    by_optimizer = m_["gradients"] == "optimizer"
    if by_optimizer and "initialize" not in mapping:
        raise ConventionError("the layers mapping says gradients go to an optimizer but names no 'initialize' "
                              "method to give the layer one")
    if not by_optimizer and not (isinstance(m_["gradients"], dict) and set(m_["gradients"]) == {"W", "b"}):
        raise ConventionError(f"the layers mapping's 'gradients' is {{'W': path, 'b': path}} or 'optimizer', "
                              f"got {m_['gradients']!r}")

    def backprop(case, params, X, Y):
        sizes, L, m = case["sizes"], len(case["sizes"]) - 1, X.shape[0]
        r = 1.0 / m if case["reduction"] == "mean" else 1.0
        seen, stack, dense = [], [], []
        for l in range(1, L + 1):  # afresh for each call: layers cache their inputs
            layer = m_["dense"](sizes[l - 1], sizes[l])
            if by_optimizer:
                getattr(layer, m_["initialize"])(_Recorder(seen))
            b = params[f"b{l}"]
            _set(layer, m_["weights"], params[f"W{l}"].copy())
            _set(layer, m_["bias"], (b.reshape(-1) if m_["bias_shape"] == "1d" else b).copy())
            dense.append(layer)
            stack += [layer, m_["activations"][case["activations"][l - 1]]()]
        loss_object = m_["losses"][case["loss"]]()
        out = X
        for layer in stack:
            out = getattr(layer, m_["forward"])(out)
        value = np.asarray(getattr(loss_object, value_of)(Y, out))
        d = np.asarray(getattr(loss_object, gradient_of)(Y, out))
        if not m_.get("mean_inside"):
            d = d * np.asarray(r, d.dtype)  # the reduction, applied at dA_L: the layers are linear in d_out
        weights = [_get(layer, m_["weights"]) for layer in dense]
        biases = [_get(layer, m_["bias"]) for layer in dense]
        for layer in reversed(stack):
            d = getattr(layer, m_["backward"])(d)
        grads = {}
        if by_optimizer:
            for param, grad in seen:
                for l in range(1, L + 1):
                    if param is weights[l - 1]:
                        grads[f"dW{l}"] = grad
                    elif param is biases[l - 1]:
                        grads[f"db{l}"] = grad
        else:
            for l in range(1, L + 1):
                grads[f"dW{l}"] = _get(dense[l - 1], m_["gradients"]["W"])
                grads[f"db{l}"] = _get(dense[l - 1], m_["gradients"]["b"])
        if m_["bias_shape"] == "1d":
            for l in range(1, L + 1):
                if f"db{l}" in grads:
                    grads[f"db{l}"] = _one_d(grads[f"db{l}"], params[f"b{l}"].shape, f"db of dense layer {l}")
        grads["dA0"] = d
        grads["loss"] = float(np.sum(value)) * r  # value is per entry or per example (loss_methods)
        return grads

    supports = {"activations": list(m_["activations"]), "losses": list(m_["losses"]),
                "layouts": ["rows"], "returns": ["loss", "dA0"]}
    if m_.get("mean_inside"):
        supports["reductions"] = ["mean"]
    return backprop, supports


# ---------------------------------------------------------------------------------------------
# layer functions: one op at a time (crosscheck/ops.py), for ``check --layers``


def _values(got, n: int, fn: str, what: str):
    """``got`` as a tuple of n values, or an error naming the function and what the convention says it returns."""
    if n == 1 and not isinstance(got, (tuple, list)):
        return (got,)
    if not isinstance(got, (tuple, list)) or len(got) != n:
        size = f"{len(got)} values" if isinstance(got, (tuple, list)) else f"a {type(got).__name__}"
        raise ConventionError(f"{fn} returned {size}; this convention's {fn} returns {what}")
    return tuple(got)


def _function(module, name: str):
    """``module.name``, where a dotted name reaches into the module (``Affine.forward``); None if absent."""
    obj = module
    for part in name.split("."):
        obj = getattr(obj, part, None)
    return obj if callable(obj) else None


def _op_functions(convention: str):
    def adapt(module, naming=None):
        """``naming``: ``crosscheck.naming.read``'s map, for a module whose names or orders are its own."""
        if not inspect.ismodule(module):
            raise ConventionError(f"--layers needs a module (a file or pkg.module); got {module!r}")

        def backprop(case, params, X, Y):
            from crosscheck import naming as _naming
            from crosscheck import ops

            if not ops.is_op(case):
                raise NotImplementedError("layer functions are checked one op at a time (--layers), not as a network")
            op = ops.get(case["op"])
            if op.convention != convention:
                raise NotImplementedError(f"op {op.name} is not a {convention} function")
            forward, backward = _naming.of(op, naming)
            fns = {sig.name: _function(module, sig.name) for sig in (forward, backward) if sig is not None}
            missing = [name for name, fn in fns.items() if fn is None]
            if missing:
                raise NotImplementedError(f"the module defines no {' and no '.join(missing)}")
            values = {name: params[name] for name in forward.args if name in params}
            values.update({name: params[name].item() for name in op.positional})  # groupnorm's G
            if op.param_dict is not None:  # a fresh dict each call: a layer may write into it (running means)
                name, fixed = op.param_dict
                values[name] = {**fixed, **{i.name: params[i.name].item() for i in op.inputs
                                            if i.draw == "setting" and i.name not in op.positional}}
            if op.extra_args:
                values["activation"] = op.extra_args[0]
            got = fns[forward.name](*(values[a] for a in forward.args))
            got = dict(zip(forward.returns, _values(got, len(forward.returns), forward.name,
                                                    f"({', '.join(forward.returns)})"), strict=True))
            if backward is None:  # cs231n's losses: (loss, dx) from one function
                return got
            values.update(cache=got.pop("cache"), **{op.upstream: params[op.upstream]})
            grads = fns[backward.name](*(values[a] for a in backward.args))
            grads = _values(grads, len(backward.returns), backward.name, f"({', '.join(backward.returns)})")
            return {**got, **dict(zip(backward.returns, grads, strict=True))}

        return backprop, None

    return adapt


def _contract(fn):
    if not callable(fn):
        raise ConventionError(f"convention contract needs a function backprop(case, params, X, Y); got {fn!r}")
    return fn, None


CONVENTIONS: dict[str, Convention] = {c.name: c for c in [
    Convention("contract", "the plain-dict contract: any layout, reduction and output the case asks for",
               "function", _contract),
    Convention("ng", "columns layout; hidden relu, output sigmoid, bce; the mean over examples; dA of the summed "
               "loss with the 1/m inside linear_backward; returns dW, db, dA0 and the cost, no dZ", "module", _ng),
    Convention("nielsen", "columns layout; sigmoid everywhere; the quadratic cost (or network2's cross-entropy "
               "when the class takes a cost); per-example backprop(x, y) summed, divided by m for the mean as "
               "update_mini_batch does; returns dW, db (and the cost when it has fn), no dZ", "class", _nielsen),
    Convention("layers", "rows layout; layer objects built afresh for each call from a mapping that names the "
               "dense layer, the activation and loss objects, the methods, and where dW and db are found (or the "
               "optimizer they are passed to); the reduction applied to the loss gradient that seeds backward; "
               "returns dW, db, dA0 and the loss, no dZ", "mapping", _layers),
    Convention("cs231n", "rows layout; {affine - relu} x (L - 1) - affine - softmax loss on the scores; 1-D biases; "
               "integer labels; reg = 0; the mean over examples; returns the loss, dW and db", "class", _cs231n),
    Convention("cs231n-layers", "cs231n's layer functions, one op at a time (--layers): rows layout; "
               "forward(x, ...) -> (out, cache), backward(dout, cache) -> the gradients of <dout, out> in the "
               "order of the inputs; 1-D biases; x of affine (N, d1, ..., dk) read as (N, D); losses (x, y) -> "
               "(loss, dx) with integer y and the mean over N", "module", _op_functions("cs231n")),
    Convention("ng-steps", "the course's step functions, one op at a time (--layers): columns layout; "
               "forward -> (out, cache), backward(dA or dZ, cache); b is (n, 1); linear_backward's dW and db "
               "are 1/m times the gradient of <dZ, Z>, dA_prev is not scaled; the activation's cache is Z",
               "module", _op_functions("ng")),
]}
LAYERS = {"cs231n": "cs231n-layers", "ng": "ng-steps"}
"""``--layers FILE --convention NAME``: the convention that checks NAME's layer functions one op at a time."""


def for_layers(name: str) -> str:
    """The op convention behind ``--layers`` for ``--convention name`` (ConventionError if there is none)."""
    if name in LAYERS.values():
        return name
    if name == DEFAULT:
        raise ConventionError(f"--layers needs --convention {' or '.join(LAYERS)}: whose layer functions the "
                              "module holds (docs/layers.md)")
    if name not in LAYERS:
        raise ConventionError(f"--layers takes --convention {' or '.join(LAYERS)}, got {name!r}")
    return LAYERS[name]
NAMES = tuple(CONVENTIONS)


def get(name: str) -> Convention:
    try:
        return CONVENTIONS[name]
    except (KeyError, TypeError):
        raise ConventionError(f"unknown convention {name!r}; valid: {', '.join(NAMES)}") from None


def merge(stated: dict | None, own: dict | None) -> dict | None:
    """What a convention states, narrowed by what the code declares itself: the intersection of name
    lists, and the code's own value for everything else."""
    if stated is None:
        return own
    if own is None:
        return dict(stated)
    out = dict(stated)
    for key, value in own.items():
        if key in contract.SUPPORT_KEYS and key in stated:
            out[key] = [n for n in stated[key] if n in value]
        else:
            out[key] = value
    return out

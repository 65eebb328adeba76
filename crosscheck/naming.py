"""A naming file: layer functions named, or taking and returning their values, otherwise than the convention's.

``check --layers FILE --convention cs231n --names names.toml`` checks a module whose functions do
what the convention's do under other names or argument orders. The file maps each of the
convention's functions (``crosscheck.ops``: ``affine_forward``, ``linear_backward``, ...) to a
signature in the module, written as it would be called::

    convention = "cs231n"                                   # optional: checked against --convention

    [functions]
    affine_forward = "fc_forward(x, w, b) -> out, cache"
    affine_backward = "fc_backward(cache, dout) -> dw, db, dx"
    relu_forward = "relu"                                   # a name alone keeps the convention's order
    softmax_loss = "cross_entropy(x, y) -> dx, loss"

The names inside a signature are the convention's own (``defaults``): a forward's inputs, its
setting (the parameter dict, ``bn_param``, or groupnorm's ``G``) and the course's ``activation``;
a backward's upstream gradient (``dout``, ``dZ``, ``dA``), ``cache`` and ``activation``; what each
returns. A signature must name each of them once: a function that takes or returns something
else cannot be checked as that op. A function the file does not name keeps the convention's name
and order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from crosscheck import ops

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib


class NamingError(ValueError):
    pass


@dataclass(frozen=True)
class Signature:
    name: str
    args: tuple[str, ...]
    returns: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.name}({', '.join(self.args)}) -> {', '.join(self.returns)}"


def _forward(op: ops.Op) -> Signature:
    args = [i.name for i in op.inputs if i.draw not in ("upstream", "setting")]
    args += list(op.positional)
    if op.param_dict is not None:
        args.append(op.param_dict[0])
    if op.extra_args:
        args.append("activation")
    returns = op.order if op.backward_fn is None else [*op.outputs, "cache"]
    return Signature(op.forward_fn, tuple(args), tuple(returns))


def _backward(op: ops.Op) -> Signature | None:
    if op.backward_fn is None:
        return None
    args = (op.upstream, "cache", *(("activation",) if op.extra_args else ()))
    return Signature(op.backward_fn, args, op.gradients)


def defaults(convention: str) -> dict[str, Signature]:
    """Each function of a convention ('cs231n' or 'ng') with its own arguments and returns, by name."""
    out = {}
    for name in ops.of(convention):
        op = ops.get(name)
        for sig in (_forward(op), _backward(op)):
            if sig is not None:
                out[sig.name] = sig
    return out


_SIGNATURE = re.compile(r"^\s*([A-Za-z_][\w.]*)\s*(?:\(([^()]*)\)\s*(?:->\s*(.*?))?)?\s*$")


def _names(text: str) -> tuple[str, ...]:
    return tuple(n.strip() for n in text.split(",") if n.strip())


def parse(text: str, default: Signature, where: str) -> Signature:
    """A signature 'name(a, b) -> c, d' (or a name alone) for the function ``default`` describes."""
    if not isinstance(text, str):
        raise NamingError(f"{where}: a signature is a string like \"{default}\", got {text!r}")
    m = _SIGNATURE.match(text)
    if m is None or (m.group(2) is not None and m.group(3) is None):
        raise NamingError(f"{where}: cannot read {text!r}; write it as \"{default}\" with your names and orders "
                          "(or a function name alone)")
    name, args, returns = m.group(1), m.group(2), m.group(3)
    if args is None:
        return Signature(name, default.args, default.returns)
    sig = Signature(name, _names(args), _names(returns))
    for what, got, want in (("arguments", sig.args, default.args), ("returns", sig.returns, default.returns)):
        unknown = [n for n in got if n not in want]
        missing = [n for n in want if n not in got]
        twice = sorted({n for n in got if got.count(n) > 1})
        if unknown or missing or twice:
            problems = [f"unknown {', '.join(map(repr, unknown))}" if unknown else "",
                        f"missing {', '.join(map(repr, missing))}" if missing else "",
                        f"named twice {', '.join(map(repr, twice))}" if twice else ""]
            raise NamingError(f"{where}: {text!r} {what}: {'; '.join(p for p in problems if p)}; "
                              f"the {what} of {default.name} are {', '.join(want)} (in any order)")
    return sig


def read(path: str | Path, convention: str) -> dict[str, Signature]:
    """The naming file at ``path`` for ``convention`` ('cs231n' or 'ng'): every function of the
    convention, by the convention's name, with the module's name and orders (NamingError names the
    problem: the file, the key, the name)."""
    path = Path(path)
    where = f"--names {path}"
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise NamingError(f"{where}: no such file") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise NamingError(f"{where}: {exc}") from None
    unknown = sorted(set(data) - {"convention", "functions"})
    if unknown:
        raise NamingError(f"{where}: unknown keys {unknown}; a naming file has 'functions' (and 'convention')")
    stated = data.get("convention", convention)
    if stated != convention:
        raise NamingError(f"{where}: the file is for convention {stated!r}, the run checks {convention!r}")
    functions = data.get("functions", {})
    if not isinstance(functions, dict):
        raise NamingError(f"{where}: 'functions' is a table of the convention's function names")
    known = defaults(convention)
    strangers = sorted(set(functions) - set(known))
    if strangers:
        raise NamingError(f"{where}: [functions] names {', '.join(map(repr, strangers))}, not functions of "
                          f"convention {convention}; its functions: {', '.join(sorted(known))}")
    out = dict(known)
    for key, text in functions.items():
        out[key] = parse(text, known[key], f"{where}: functions.{key}")
    return out


def of(op: ops.Op, naming: dict[str, Signature] | None) -> tuple[Signature, Signature | None]:
    """An op's forward and backward signatures under ``naming`` (the convention's own when None)."""
    fwd, bwd = _forward(op), _backward(op)
    if naming is None:
        return fwd, bwd
    return naming.get(fwd.name, fwd), (naming.get(bwd.name, bwd) if bwd is not None else None)

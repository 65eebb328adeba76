"""Loading a system under test from ``pkg.module:func`` or ``path/to/file.py:func``."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from crosscheck import contract

DEFAULT = "reference_impl:backprop"


class SutLoadError(ValueError):
    pass


@dataclass(frozen=True)
class Sut:
    spec: str
    backprop: Callable
    supports: dict | None

    def supported(self, key: str) -> tuple[str, ...]:
        return contract.supported(self.supports, key)


def _module_from_file(path: Path):
    name = f"_crosscheck_sut_{path.stem}"
    # the file's own folder first, so it can import modules that sit beside it
    sys.path.insert(0, str(path.parent))
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def load(spec: str = DEFAULT) -> Sut:
    """Import the SUT's callable; its ``supports`` dict may sit on the callable or its module."""
    target, sep, attr = spec.rpartition(":")
    if not sep or not target or not attr:
        raise SutLoadError(f"--sut must look like 'pkg.module:func' or 'path/to/file.py:func', got {spec!r}")
    try:
        if target.endswith(".py"):
            path = Path(target)
            if not path.is_file():
                raise SutLoadError(f"--sut file {target!r} does not exist")
            module = _module_from_file(path.resolve())
        else:
            module = importlib.import_module(target)
    except SutLoadError:
        raise
    except Exception as exc:
        raise SutLoadError(f"--sut {spec!r}: importing {target!r} failed: {type(exc).__name__}: {exc}") from exc
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise SutLoadError(f"--sut {spec!r}: {target!r} has no callable {attr!r}")
    supports = getattr(fn, "supports", None) or getattr(module, "supports", None)
    if supports is not None:
        for key in supports:
            if key not in contract.SUPPORT_KEYS:
                raise SutLoadError(f"--sut {spec!r}: supports has unknown key {key!r}; "
                                   f"valid: {', '.join(contract.SUPPORT_KEYS)}")
            contract.supported(supports, key)
    return Sut(spec, fn, supports)

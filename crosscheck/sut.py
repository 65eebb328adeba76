"""Loading a system under test from ``pkg.module:func`` or ``path/to/file.py:func``.

``load`` gives a ``Sut`` whose calls go through ``crosscheck.boundary``: by default the SUT is
imported and called in a child process (``isolation="process"``), so this process never imports
user code; ``isolation="none"`` imports and calls it here, faster and unprotected. A ``Sut`` built
from a callable (the mutant catalogue, tests) is always called in process.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from crosscheck import boundary, contract, conventions

DEFAULT = "reference_impl:backprop"
ISOLATION = ("process", "none")


class SutLoadError(ValueError):
    pass


@dataclass(frozen=True)
class Sut:
    spec: str
    backprop: Callable | None
    """The callable, when the SUT lives in this process; None when it lives in a child process."""
    supports: dict | None
    child: boundary.Child | None = field(default=None, compare=False)
    convention: str = conventions.DEFAULT
    names: str = ""
    """The naming file of a module of layer functions (``crosscheck.naming``), or ""."""
    module: object = field(default=None, compare=False, repr=False)
    """The module the SUT's code lives in, when loaded here (where ``boundary.StandIn`` replaces a function)."""

    def supported(self, key: str) -> tuple[str, ...]:
        return contract.supported(self.supports, key)

    @property
    def isolated(self) -> bool:
        return self.child is not None

    def call(self, case: dict, params: dict, X, Y) -> boundary.Outcome:
        """The SUT's two answers on one case (``crosscheck.boundary``), wherever it lives."""
        if self.child is not None:
            return self.child.call(case, params, X, Y)
        return boundary.call_twice(self.backprop, case, params, X, Y)

    def begin(self, case: dict, params: dict, X, Y) -> Callable[[], boundary.Outcome] | None:
        """Start ``call`` in the SUT's process and return the function that waits for its outcome, so that this
        process works meanwhile; None when the SUT lives here (nothing runs while this process works)."""
        return self.child.begin(case, params, X, Y) if self.child is not None else None

    def close(self) -> None:
        if self.child is not None:
            self.child.close()


def _module_from_file(path: Path):
    """Import a file; one inside a package (a folder with __init__.py) is imported as part of it,
    so its relative imports work."""
    package_root, parts = path.parent, [path.stem]
    while (package_root / "__init__.py").is_file():
        parts.insert(0, package_root.name)
        package_root = package_root.parent
    if len(parts) > 1:
        sys.path.insert(0, str(package_root))
        return importlib.import_module(".".join(parts))
    name = f"_crosscheck_sut_{path.stem}"
    # the file's own folder first, so it can import modules that sit beside it
    sys.path.insert(0, str(path.parent))
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def validate_supports(spec: str, supports) -> None:
    """Raise SutLoadError naming the first key or name of ``supports`` that is not valid."""
    if supports is None:
        return
    if not isinstance(supports, dict):
        raise SutLoadError(f"--sut {spec!r}: supports must be a dict, got {type(supports).__name__}")
    for key, names in supports.items():
        if key not in contract.ALL_SUPPORT_KEYS:
            raise SutLoadError(f"--sut {spec!r}: supports has unknown key {key!r}; "
                               f"valid: {', '.join(contract.ALL_SUPPORT_KEYS)}")
        if key not in contract.SUPPORT_KEYS:
            continue
        if isinstance(names, str) or not hasattr(names, "__iter__"):
            raise SutLoadError(f"--sut {spec!r}: supports[{key!r}] must be a list of names, got {names!r}")
        try:
            chosen = contract.supported(supports, key)
        except contract.ContractError as exc:
            raise SutLoadError(f"--sut {spec!r}: {exc}") from None
        if not chosen:
            narrowed = " once narrowed by supports['activations']" if key.endswith("_activations") else ""
            raise SutLoadError(f"--sut {spec!r}: supports[{key!r}] is empty{narrowed}: no case could be generated")
    from hypothesis.errors import InvalidArgument

    from crosscheck import strategies

    try:
        contract.declared(supports)
        strategies.cases(supports)  # a declaration that leaves nothing to generate is an error too
    except (contract.ContractError, InvalidArgument) as exc:
        raise SutLoadError(f"--sut {spec!r}: {exc}") from None


def _import(spec: str, target: str, flag: str = "--sut"):
    try:
        if target.endswith(".py"):
            path = Path(target)
            if not path.is_file():
                raise SutLoadError(f"{flag} file {target!r} does not exist")
            return _module_from_file(path.resolve())
        return importlib.import_module(target)
    except SutLoadError:
        raise
    except BaseException as exc:  # noqa: BLE001  (a SystemExit at import is a load error too)
        if isinstance(exc, KeyboardInterrupt):
            raise
        raise SutLoadError(f"{flag} {spec!r}: importing {target!r} failed: {type(exc).__name__}: {exc}") from None


def load_here(spec: str = DEFAULT, convention: str = conventions.DEFAULT, names: str = "") -> Sut:
    """Import the SUT into this process and put its convention in front of it.

    ``spec`` is ``pkg.module:name`` or ``path/to/file.py:name``; a convention whose code is a whole
    module (ng) takes the module alone. ``supports`` may sit on the named object or its module; it
    narrows what the convention states (``conventions.merge``). ``names``: a naming file
    (``crosscheck.naming``) for a module of layer functions.
    """
    try:
        conv = conventions.get(convention)
    except conventions.ConventionError as exc:
        raise SutLoadError(str(exc)) from None
    naming = _naming(names, convention)
    target, sep, attr = spec.rpartition(":")
    if conv.target == "module" and not sep:
        target, attr = spec, ""
    if not target or (conv.target != "module" and not attr):
        raise SutLoadError(f"--sut must look like 'pkg.module:func' or 'path/to/file.py:func'"
                           f"{' (or a module alone)' if conv.target == 'module' else ''}, got {spec!r}")
    module = _import(spec, target, "--layers" if convention in conventions.LAYERS.values() else "--sut")
    obj = getattr(module, attr, None) if attr else module
    if obj is None or (conv.target == "function" and not callable(obj)):
        raise SutLoadError(f"--sut {spec!r}: {target!r} has no callable {attr!r}")
    own = getattr(obj, "supports", None) if attr else None
    own = own if isinstance(own, dict) or own is None else None
    own = own or getattr(module, "supports", None)
    validate_supports(spec, own)
    try:
        fn, stated = conv.adapt(obj) if naming is None else conv.adapt(obj, naming)
    except conventions.ConventionError as exc:
        raise SutLoadError(f"--sut {spec!r}: {exc}") from None
    supports = conventions.merge(stated, dict(own) if own is not None else None)
    validate_supports(f"{spec} (convention {convention})", supports)
    return Sut(spec, conventions.formats(fn, supports), supports, convention=convention, names=names,
               module=module)


def _naming(names: str, convention: str):
    """The naming file's map (``crosscheck.naming.read``), None without one; SutLoadError names its problem."""
    if not names:
        return None
    from crosscheck import naming

    base = next((k for k, v in conventions.LAYERS.items() if v == convention), None)
    if base is None:
        raise SutLoadError(f"--names describes layer functions (--layers with --convention "
                           f"{' or '.join(conventions.LAYERS)}), not convention {convention!r}")
    try:
        return naming.read(names, base)
    except naming.NamingError as exc:
        raise SutLoadError(str(exc)) from None


def load(spec: str = DEFAULT, isolation: str = "process", timeout: float = boundary.DEFAULT_TIMEOUT,
         memory_mb: float = boundary.DEFAULT_MEMORY_MB, convention: str = conventions.DEFAULT,
         names: str = "") -> Sut:
    """Load the SUT for checking: in a child process (the default) or, with ``isolation="none"``, here.

    Raises SutLoadError with the reason (a missing file, a failed import, a bad ``supports``, an
    import that hangs or crashes) either way.
    """
    if isolation not in ISOLATION:
        raise SutLoadError(f"isolation must be one of {', '.join(ISOLATION)}, got {isolation!r}")
    names = str(Path(names).resolve()) if names else ""
    _naming(names, convention)  # its problems are named here, before a child starts
    if isolation == "none":
        return load_here(spec, convention, names)
    child = boundary.Child(spec, timeout=timeout, memory_mb=memory_mb, convention=convention, names=names)
    try:
        child.start()
    except boundary.SutLoadFailed as exc:
        raise SutLoadError(str(exc)) from None
    validate_supports(spec, child.supports)
    return Sut(spec, None, child.supports, child, convention, names)

"""nox sessions. `nox -l` lists them."""

import nox

nox.options.default_venv_backend = "venv"
nox.options.sessions = ["tests"]
CONSTRAINTS = "constraints/ci.txt"


def install(session, extras="torch,jax,dev"):
    session.install("-c", CONSTRAINTS, "-e", f".[{extras}]")


def run_pytest(session, *args):
    session.run("python", "-m", "pytest", "-n", "2", *args, *session.posargs, env={"OMP_NUM_THREADS": "1"})


@nox.session
def tests(session):
    """The project's own tests, the cross-check of the reference implementation included."""
    install(session)
    run_pytest(session)


@nox.session
def mutants(session):
    """The mutant catalogue: every mutant killed and localized, every correct alternative passing."""
    install(session)
    run_pytest(session, "-m", "mutants")


@nox.session
def lint(session):
    """ruff over the whole tree."""
    session.install("-c", CONSTRAINTS, "ruff")
    session.run("ruff", "check", ".")

"""nox sessions, listed with `nox -l`.

The framework matrix: the project's tests, the cross-check run and the drift report across
versions of torch, JAX and NumPy. Run all of it with `nox -t matrix` (docs/matrix.md).
"""

import nox

nox.options.default_venv_backend = "venv"
nox.options.sessions = ["tests(ci)"]

CI = "constraints/ci.txt"          # every version pinned: what CI runs
MATRIX_PINS = "constraints/matrix.txt"  # everything but the swept frameworks pinned

# (torch, jax, numpy), pruned to combinations that install together on Python 3.11 / CPU:
# torch 2.13.0 is the CPU build on local disk and 2.14.1 the local CUDA build (it runs on CPU);
# jax >= 0.5 needs numpy >= 2, so numpy 1.26 pairs with jax 0.4.38.
# 'ci' (below) is torch 2.13.0, jax 0.10.2, numpy 2.2.6 with everything pinned.
MATRIX = {
    "torch2.14-jax0.10.2-np2.2": ("2.14.1", "0.10.2", "2.2.6"),
    "torch2.13-jax0.10.1-np2.3": ("2.13.0", "0.10.1", "2.3.5"),
    "torch2.13-jax0.10.2-np2.4": ("2.13.0", "0.10.2", "2.4.6"),
    "torch2.13-jax0.4.38-np1.26": ("2.13.0", "0.4.38", "1.26.4"),
}
ENVS = ["ci", *MATRIX]


def install(session, env):
    """Install the project for one environment of the matrix ('ci' = the pinned CI set)."""
    if env == "ci":
        session.install("-c", CI, "-e", ".[torch,jax,dev,report]")
        return
    torch, jax, numpy = MATRIX[env]
    session.install("-c", MATRIX_PINS, "-e", ".[torch,jax,dev,report]",
                    f"torch=={torch}", f"jax=={jax}", f"jaxlib=={jax}", f"numpy=={numpy}")


def run_pytest(session, *args):
    session.run("python", "-m", "pytest", "-n", "2", *args, *session.posargs, env={"OMP_NUM_THREADS": "1"})


@nox.session(reuse_venv=True, tags=["matrix"])
@nox.parametrize("env", ENVS, ids=ENVS)
def tests(session, env):
    """The project's own tests, cross-check included, in one environment of the matrix."""
    install(session, env)
    run_pytest(session, "--env", env)


@nox.session(reuse_venv=True, tags=["matrix"])
@nox.parametrize("env", ENVS, ids=ENVS)
def verify(session, env):
    """The cross-check on fixed (derandomized) cases, oracle values kept, into reports/<env>/."""
    install(session, env)
    run_pytest(session, "-m", "crosscheck", "--hypothesis-profile=drift", "--record-values", "--env", env,
               "--results", f"reports/{env}/results.jsonl")


@nox.session(reuse_venv=True, tags=["matrix"])
def report(session):
    """One HTML report over every environment's results, with the drift table: reports/matrix.html."""
    session.install("-c", CI, "-e", ".[report]")
    results = sorted(str(p) for p in __import__("pathlib").Path("reports").glob("*/results.jsonl"))
    if not results:
        session.error("no reports/*/results.jsonl: run the verify sessions first")
    session.run("python", "-m", "reports", "build", *results, "-o", "reports/matrix.html")


@nox.session(reuse_venv=True)
def mutants(session):
    """The mutant catalogue: every mutant killed and localized, every correct alternative passing."""
    install(session, "ci")
    run_pytest(session, "-m", "mutants")


@nox.session(reuse_venv=True)
def lint(session):
    """ruff over the whole tree."""
    session.install("-c", CI, "ruff")
    session.run("ruff", "check", ".")

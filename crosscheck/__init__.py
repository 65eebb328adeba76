"""backprop-crosscheck: checks hand-written backpropagation against PyTorch, JAX and finite differences.

The pytest plugin (``crosscheck.plugin``) is registered when the package is installed; the
cross-check tests themselves ship as ``crosscheck.suite``:

    python -m crosscheck check --sut path/to/mine.py:backprop
    python -m pytest --pyargs crosscheck.suite --sut=path/to/mine.py:backprop
"""

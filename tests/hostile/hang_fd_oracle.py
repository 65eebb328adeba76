"""A pytest plugin (-p hang_fd_oracle) that makes the finite-difference oracle hang, for the test
that a hung oracle's case is recorded and its process ends."""

import time

import oracles.finite_differences as fd


def _hang(*args, **kwargs):
    while True:
        time.sleep(1)


fd.gradients = _hang

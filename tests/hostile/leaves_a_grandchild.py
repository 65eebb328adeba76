"""Starts a long-lived process of its own, then dies: the process goes with it."""

import os
import subprocess

from _base import correct, victim


def backprop(case, params, X, Y):
    if victim(case):
        subprocess.Popen(["sleep", "987.25"])
        os._exit(3)
    return correct(case, params, X, Y)

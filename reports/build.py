"""Placeholder: the report builder (issue in progress)."""


def build_report(paths, out, timestamp=False):
    raise NotImplementedError

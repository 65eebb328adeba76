"""Classifiers built from ``cs231n_like.layers``."""

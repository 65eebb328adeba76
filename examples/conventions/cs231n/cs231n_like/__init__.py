"""Layers and a fully connected classifier in the style of the CS231n assignments."""

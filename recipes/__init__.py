"""Recipes: one module per (model, dataset), each defining ``RECIPE``.

Run one with ``zoo train NAME [options]`` or as its own script: ``python recipes/NAME.py [options]``.
"""

"""Checkers, one module per lab: ``<lab id with underscores>.py``.

Each module registers its exercises with :func:`mlops_kit.labs.checker`; the
registry imports a module the first time its lab is used.
"""

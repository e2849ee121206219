"""Plain helpers shared by test modules (functions, classes, constants).

Fixtures live in the conftest.py files; test modules import helpers from here or from the
helpers.py of their own folder, never from another test module or a conftest.
"""

"""The pytest glue: the only package (with its hookspecs) that imports pytest.

`plugin` is the `pytest11` entry point; `keys` is a leaf holding the stash keys and item
constants, so the other modules never import the plugin module (no import cycle).
"""

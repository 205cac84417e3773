"""The Invoke layer: one module per namespace, each ending with its ``Collection``.

Tasks are thin: read arguments and settings, call one domain function, render the result.
"""

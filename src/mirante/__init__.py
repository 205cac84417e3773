"""mirante: an observability sandbox (a Docker Compose stack) and its operations toolkit.

The library behind ``invoke``: ``mirante.tasks`` holds the Invoke layer; every other
module is domain logic or a tool wrapper (see the README's layout).
"""

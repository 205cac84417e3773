"""Observing a service: the services the stack observes, the contract, what arrives.

- ``registry``: ``config/services.yaml``, the services observed (the sample app is one);
- ``contract``: the observability contract a service is checked against (validate.service);
- ``coverage``: which of a service's signals arrive: series, traces, logs, exemplars.
"""

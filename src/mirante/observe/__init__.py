"""Observing a service: the services the stack observes, the contract, what arrives.

- ``registry``: ``config/services.yaml``, the services observed (the sample app is one);
- ``contract``: the observability contract a service is checked against (validate.service);
- ``coverage``: which of a service's signals arrive: series, traces, logs, exemplars;
- ``otlp``: a span and a log line sent over OTLP and read back from Tempo and Loki;
- ``promql``: the metric names and label matchers of a PromQL expression.
"""

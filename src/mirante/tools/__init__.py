"""The tool wrappers: argv builders around :mod:`mirante.runner`, and their typed errors.

- ``docker``: Docker and compose (python-on-whales, and the docker CLI's streams);
- ``kube``: kubectl and helm (always against a named context), and port-forwards;
- ``terraform``: Terraform's commands and the AWS caller identity;
- ``promtools``: promtool and amtool, the host's or the image's.
"""

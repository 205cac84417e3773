"""Remote environments: the dev / staging / prod Kubernetes clusters.

- ``environments``: what ``config/environments.yaml`` says each environment is (ground);
- ``kube``: the kubectl and helm tool wrapper (and port-forwards);
- ``guard``: the kube-context check, the protection, exact selectors;
- ``generated``: the helm values made per environment from the compose stack's files;
- ``charts``: what the pinned kube-prometheus-stack brings of its own rules;
- ``parity``: the gate that compares each environment with the compose stack;
- ``diagnose``: what kubectl's output says, in one line;
- ``smoke``: the smoke test that ends an install or a reset;
- ``plans``: the guarded plans of every remote task, printed or run.
"""

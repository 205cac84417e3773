"""Remote environments: the dev / staging / prod Kubernetes clusters.

The plans, one module per task namespace (each a :class:`mirante.plans.Plan`):

- ``k8s``: ``k8s.install|diff|status|uninstall`` and the clusters' feature flags;
- ``staging``: ``staging.reset``;
- ``deploy``: ``deploy.service|rollback|history``;
- ``provision``: ``provision --profile k8s``;
- ``steps``: the steps those plans share (values, overlay, Secrets, volumes, smoke test).

What they are built from (kubectl and helm are :mod:`mirante.tools.kube`):

- ``guard``: the kube-context check, the protection, exact selectors;
- ``generated``: the helm values made per environment from the compose stack's files;
- ``charts``: what the pinned kube-prometheus-stack brings of its own rules;
- ``parity``: the gate that compares each environment with the compose stack;
- ``diagnose``: what kubectl's output says, in one line;
- ``smoke``: the smoke test that ends an install or a reset.
"""

"""Remote environments: the dev / staging / prod Kubernetes clusters.

Four modules:


- ``environments``: what ``config/environments.yaml`` says each environment is (ground);
- ``kube``: the kubectl and helm tool wrapper;
- ``guard``: the kube-context check, the protection, exact selectors;
- ``plans``: the guarded plans of every remote task, printed or run.
"""

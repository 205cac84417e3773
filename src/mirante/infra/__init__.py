"""The AWS foundation: Terraform of each environment, guarded by its AWS account.

:mod:`.terraform` wraps the terraform command and the caller identity; :mod:`.outputs`
keeps what the Kubernetes layer reads from Terraform's outputs; :mod:`.plans` builds the
guarded plans of ``invoke infra.plan|apply|destroy|output``.
"""

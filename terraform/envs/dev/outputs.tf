# What the Kubernetes layer reads (`invoke infra.output ENV` writes them where
# `invoke k8s.install ENV` finds them): the buckets, the IRSA roles, the cluster.
output "cluster_name" {
  description = "The EKS cluster's name."
  value       = module.foundation.cluster_name
}

output "cluster_endpoint" {
  description = "The Kubernetes API's address (config/environments.yaml: api_server)."
  value       = module.foundation.cluster_endpoint
}

output "region" {
  description = "The region of everything here."
  value       = "eu-west-1"
}

output "buckets" {
  description = "Each signal's bucket: logs, traces, metrics, backups."
  value       = module.foundation.buckets
}

output "irsa_role_arns" {
  description = "Each service account's IRSA role: loki, tempo, collector, backups."
  value       = module.foundation.irsa_role_arns
}

output "volumes_kms_key_arn" {
  description = "The key volumes are encrypted with (the StorageClass k8s.install makes)."
  value       = module.foundation.volumes_kms_key_arn
}

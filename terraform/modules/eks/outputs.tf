output "cluster_name" {
  description = "The cluster's name."
  value       = aws_eks_cluster.this.name
}

output "cluster_endpoint" {
  description = "The Kubernetes API's address."
  value       = aws_eks_cluster.this.endpoint
}

output "oidc_provider_arn" {
  description = "The OIDC provider IRSA roles trust."
  value       = aws_iam_openid_connect_provider.this.arn
}

output "oidc_issuer" {
  description = "The cluster's OIDC issuer, without https://: the prefix of IRSA conditions."
  value       = local.oidc
}

output "volumes_kms_key_arn" {
  description = "The key volumes are encrypted with (the StorageClass's kmsKeyId)."
  value       = aws_kms_key.cluster.arn
}

output "cluster_name" {
  description = "The EKS cluster's name."
  value       = module.eks.cluster_name
}

output "cluster_endpoint" {
  description = "The Kubernetes API's address (config/environments.yaml: api_server)."
  value       = module.eks.cluster_endpoint
}

output "buckets" {
  description = "Each signal's bucket name."
  value       = module.s3.bucket_names
}

output "irsa_role_arns" {
  description = "Each service account's IRSA role ARN."
  value       = module.iam.role_arns
}

output "vpc_id" {
  description = "The VPC."
  value       = module.vpc.vpc_id
}

output "volumes_kms_key_arn" {
  description = "The key volumes are encrypted with: the StorageClass k8s.install makes."
  value       = module.eks.volumes_kms_key_arn
}

# An environment's whole AWS foundation: the VPC, the EKS cluster with a node group per
# namespace, a bucket per signal, and an IRSA role per service account that uses one.
# terraform/envs/<env> calls it with that environment's values.

locals {
  name = "mirante-${var.env}"
  tags = merge(var.tags, { "mirante.io/env" = var.env, "managed-by" = "terraform" })
}

module "vpc" {
  source                  = "../vpc"
  name                    = local.name
  cluster_name            = local.name
  cidr                    = var.vpc_cidr
  zones                   = var.zones
  single_nat_gateway      = var.single_nat_gateway
  flow_log_retention_days = var.flow_log_retention_days
  tags                    = local.tags
}

module "eks" {
  source              = "../eks"
  name                = local.name
  kubernetes_version  = var.kubernetes_version
  subnet_ids          = module.vpc.private_subnet_ids
  public_access_cidrs = var.public_access_cidrs
  node_groups         = var.node_groups
  tags                = local.tags
}

module "s3" {
  source                    = "../s3"
  name_prefix               = local.name
  buckets                   = var.buckets
  noncurrent_days           = var.noncurrent_days
  access_log_retention_days = var.access_log_retention_days
  tags                      = local.tags
}

module "iam" {
  source            = "../iam"
  name_prefix       = local.name
  oidc_provider_arn = module.eks.oidc_provider_arn
  oidc_issuer       = module.eks.oidc_issuer
  roles             = var.irsa_roles
  bucket_arns       = module.s3.bucket_arns
  kms_key_arn       = module.s3.kms_key_arn
  tags              = local.tags
}

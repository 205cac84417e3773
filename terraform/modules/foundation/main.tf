# An environment's whole AWS foundation: the VPC, the EKS cluster with a node group per
# namespace, a bucket per signal, and an IRSA role per service account that uses one.
# terraform/envs/<env> calls it with that environment's values.

locals {
  name = "mirante-${var.env}"
  tags = merge(var.tags, { "mirante.io/env" = var.env, "managed-by" = "terraform" })

  # A node group per namespace: the observability releases get their own (tainted) nodes.
  node_groups = {
    monitoring = merge(var.monitoring_nodes, { namespace = var.observability_namespace, dedicated = true })
    app        = merge(var.app_nodes, { namespace = var.app_namespace, dedicated = false })
  }

  # Every environment keeps metrics snapshots and backups in S3; logs and traces too where
  # it runs Loki and Tempo on object storage (dev keeps them on volumes).
  signals = var.object_storage ? ["logs", "traces", "metrics", "backups"] : ["metrics", "backups"]
  buckets = { for signal in local.signals : signal => { retention_days = var.retention_days[signal] } }

  # One IRSA role per service account that uses a bucket, scoped to its buckets.
  storage_roles = {
    loki  = { namespace = var.observability_namespace, service_account = "loki", buckets = ["logs"], prefix = "", write = true }
    tempo = { namespace = var.observability_namespace, service_account = "tempo", buckets = ["traces"], prefix = "", write = true }
  }
  irsa_roles = merge(var.object_storage ? local.storage_roles : {}, {
    collector = { namespace = var.observability_namespace, service_account = "opentelemetry-collector", buckets = ["metrics"], prefix = "otlp/", write = true }
    backups   = { namespace = var.app_namespace, service_account = "mirante-backup", buckets = ["backups", "metrics"], prefix = "", write = true }
  })
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
  api_allowed_cidrs   = var.api_allowed_cidrs
  operator_role_arns  = var.operator_role_arns
  ci_role_arns        = var.ci_role_arns
  log_retention_days  = var.control_plane_log_retention_days
  node_groups         = local.node_groups
  tags                = local.tags
}

module "s3" {
  source                    = "../s3"
  name_prefix               = local.name
  bucket_suffix             = var.bucket_suffix
  buckets                   = local.buckets
  noncurrent_days           = var.noncurrent_days
  access_log_retention_days = var.access_log_retention_days
  tags                      = local.tags
}

module "iam" {
  source            = "../iam"
  name_prefix       = local.name
  oidc_provider_arn = module.eks.oidc_provider_arn
  oidc_issuer       = module.eks.oidc_issuer
  roles             = local.irsa_roles
  bucket_arns       = module.s3.bucket_arns
  kms_key_arn       = module.s3.kms_key_arn
  tags              = local.tags
}

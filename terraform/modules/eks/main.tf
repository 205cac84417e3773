# One EKS cluster per environment, its API private to the VPC (plus the CIDRs allowed in
# var.public_access_cidrs), Kubernetes secrets encrypted with the module's KMS key, every
# control-plane log type on, and one managed node group per namespace (var.node_groups),
# labelled and tainted for it. The OIDC provider is what IRSA roles trust (module iam).

data "aws_partition" "current" {}
data "aws_caller_identity" "current" {}

resource "aws_kms_key" "secrets" {
  description         = "${var.name}: EKS secrets encryption"
  enable_key_rotation = true
  # The account administers the key; the cluster's role uses it through its IAM policy.
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "AccountAdministers"
      Effect    = "Allow"
      Principal = { AWS = "arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root" }
      Action    = "kms:*"
      Resource  = "*"
    }]
  })
  tags = var.tags
}

resource "aws_iam_role" "cluster" {
  name = "${var.name}-cluster"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "eks.amazonaws.com" }
      Action    = ["sts:AssumeRole", "sts:TagSession"]
    }]
  })
  tags = var.tags
}

resource "aws_iam_role_policy_attachment" "cluster" {
  role       = aws_iam_role.cluster.name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/AmazonEKSClusterPolicy"
}

# The key's policy leaves its use to IAM: the cluster may use this one key, for secrets.
resource "aws_iam_role_policy" "cluster_secrets_key" {
  name = "secrets-key"
  role = aws_iam_role.cluster.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect   = "Allow"
      Action   = ["kms:Encrypt", "kms:Decrypt", "kms:DescribeKey", "kms:ListGrants", "kms:CreateGrant"]
      Resource = aws_kms_key.secrets.arn
    }]
  })
}

resource "aws_eks_cluster" "this" {
  # checkov:skip=CKV_AWS_38:The API is public only to var.public_access_cidrs, whose validation refuses 0.0.0.0/0; every environment leaves it empty (private API)
  # checkov:skip=CKV_AWS_39:Public access is off unless var.public_access_cidrs names ranges, and then only for those (see CKV_AWS_38)
  name     = var.name
  version  = var.kubernetes_version
  role_arn = aws_iam_role.cluster.arn

  vpc_config {
    subnet_ids              = var.subnet_ids
    endpoint_private_access = true
    endpoint_public_access  = length(var.public_access_cidrs) > 0
    public_access_cidrs     = var.public_access_cidrs
  }

  encryption_config {
    resources = ["secrets"]
    provider {
      key_arn = aws_kms_key.secrets.arn
    }
  }

  # Access entries only (no aws-auth ConfigMap); whoever creates the cluster administers it,
  # and grants others with access entries.
  access_config {
    authentication_mode                         = "API"
    bootstrap_cluster_creator_admin_permissions = true
  }

  enabled_cluster_log_types = ["api", "audit", "authenticator", "controllerManager", "scheduler"]
  tags                      = var.tags

  depends_on = [aws_iam_role_policy_attachment.cluster, aws_iam_role_policy.cluster_secrets_key]
}

resource "aws_iam_openid_connect_provider" "this" {
  url            = aws_eks_cluster.this.identity[0].oidc[0].issuer
  client_id_list = ["sts.amazonaws.com"]
  tags           = var.tags
}

resource "aws_iam_role" "node" {
  name = "${var.name}-node"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "ec2.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })
  tags = var.tags
}

resource "aws_iam_role_policy_attachment" "node" {
  for_each = toset([
    "AmazonEKSWorkerNodePolicy",
    "AmazonEKS_CNI_Policy",
    "AmazonEC2ContainerRegistryReadOnly",
  ])
  role       = aws_iam_role.node.name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/${each.value}"
}

# One node group per namespace: its pods land there by the label and the taint.
resource "aws_eks_node_group" "this" {
  for_each        = var.node_groups
  cluster_name    = aws_eks_cluster.this.name
  node_group_name = each.key
  node_role_arn   = aws_iam_role.node.arn
  subnet_ids      = var.subnet_ids
  instance_types  = each.value.instance_types
  disk_size       = each.value.disk_gib

  scaling_config {
    min_size     = each.value.min
    max_size     = each.value.max
    desired_size = each.value.desired
  }

  update_config {
    max_unavailable = 1
  }

  labels = { "mirante.io/namespace" = each.value.namespace }

  dynamic "taint" {
    for_each = each.value.dedicated ? [each.value.namespace] : []
    content {
      key    = "mirante.io/namespace"
      value  = taint.value
      effect = "NO_SCHEDULE"
    }
  }

  tags       = merge(var.tags, { "mirante.io/namespace" = each.value.namespace })
  depends_on = [aws_iam_role_policy_attachment.node]
}

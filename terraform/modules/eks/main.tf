# One EKS cluster per environment, its API private to the VPC (plus the CIDRs allowed in
# var.public_access_cidrs, and the VPN or bastion ranges of var.api_allowed_cidrs on the
# private endpoint), Kubernetes secrets, control-plane logs and volumes encrypted with the
# module's KMS key, and one managed node group per namespace (var.node_groups), labelled
# and tainted for it. Who may use the API: the cluster's creator, and the operator and CI
# roles of var.operator_role_arns / var.ci_role_arns (access entries). Volumes: the
# aws-ebs-csi-driver add-on with its IRSA role (`invoke k8s.install` makes the default
# StorageClass on it). The OIDC provider is what IRSA roles trust (here and in module iam).

data "aws_partition" "current" {}
data "aws_caller_identity" "current" {}
data "aws_region" "current" {}

locals {
  partition = data.aws_partition.current.partition
  account   = data.aws_caller_identity.current.account_id
  log_group = "/aws/eks/${var.name}/cluster"
  oidc      = replace(aws_eks_cluster.this.identity[0].oidc[0].issuer, "https://", "")
}

resource "aws_kms_key" "cluster" {
  description         = "${var.name}: EKS secrets, control-plane logs and volumes"
  enable_key_rotation = true
  # The account administers the key; the cluster's role (secrets) and the EBS CSI driver's
  # (volumes) use it through their IAM policies; CloudWatch Logs for this cluster's log
  # group only.
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "AccountAdministers"
        Effect    = "Allow"
        Principal = { AWS = "arn:${local.partition}:iam::${local.account}:root" }
        Action    = "kms:*"
        Resource  = "*"
      },
      {
        Sid       = "ControlPlaneLogs"
        Effect    = "Allow"
        Principal = { Service = "logs.${data.aws_region.current.region}.amazonaws.com" }
        Action    = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
        Resource  = "*"
        Condition = {
          ArnEquals = {
            "kms:EncryptionContext:aws:logs:arn" = "arn:${local.partition}:logs:${data.aws_region.current.region}:${local.account}:log-group:${local.log_group}"
          }
        }
      },
    ]
  })
  tags = var.tags
}

# The key once served secrets only, under this name.
moved {
  from = aws_kms_key.secrets
  to   = aws_kms_key.cluster
}

# EKS would make this log group itself on first write, kept forever and unencrypted.
resource "aws_cloudwatch_log_group" "cluster" {
  # checkov:skip=CKV_AWS_338:Control-plane logs are kept per environment (control_plane_log_retention_days: 30 days in dev, 90 in staging, 365 in prod)
  name              = local.log_group
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.cluster.arn
  tags              = var.tags
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
  policy_arn = "arn:${local.partition}:iam::aws:policy/AmazonEKSClusterPolicy"
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
      Resource = aws_kms_key.cluster.arn
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
      key_arn = aws_kms_key.cluster.arn
    }
  }

  # Access entries only (no aws-auth ConfigMap): whoever creates the cluster administers it,
  # and the operator and CI roles below get entries of their own.
  access_config {
    authentication_mode                         = "API"
    bootstrap_cluster_creator_admin_permissions = true
  }

  enabled_cluster_log_types = ["api", "audit", "authenticator", "controllerManager", "scheduler"]
  tags                      = var.tags

  depends_on = [
    aws_iam_role_policy_attachment.cluster,
    aws_iam_role_policy.cluster_secrets_key,
    aws_cloudwatch_log_group.cluster,
  ]
}

# The private endpoint answers the cluster's security group only: a VPN or a bastion
# network needs its range let in on 443 (k8s.install, kubectl and helm run from there).
resource "aws_vpc_security_group_ingress_rule" "api" {
  for_each          = toset(var.api_allowed_cidrs)
  security_group_id = aws_eks_cluster.this.vpc_config[0].cluster_security_group_id
  description       = "Kubernetes API from ${each.value} (VPN or bastion)"
  cidr_ipv4         = each.value
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  tags              = var.tags
}

# -- who may use the API ---------------------------------------------------------------------

locals {
  admins = merge(
    { for arn in var.operator_role_arns : arn => "operator" },
    { for arn in var.ci_role_arns : arn => "ci" },
  )
}

resource "aws_eks_access_entry" "admin" {
  for_each      = local.admins
  cluster_name  = aws_eks_cluster.this.name
  principal_arn = each.key
  type          = "STANDARD"
  tags          = merge(var.tags, { "mirante.io/access" = each.value })
}

# Cluster-wide: k8s.install installs CRDs, cluster roles and a StorageClass.
resource "aws_eks_access_policy_association" "admin" {
  for_each      = local.admins
  cluster_name  = aws_eks_cluster.this.name
  principal_arn = aws_eks_access_entry.admin[each.key].principal_arn
  policy_arn    = "arn:${local.partition}:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
  access_scope {
    type = "cluster"
  }
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
  policy_arn = "arn:${local.partition}:iam::aws:policy/${each.value}"
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

# -- volumes: the EBS CSI driver -------------------------------------------------------------
# Since Kubernetes 1.23 EBS volumes are made by the CSI driver only, and since EKS 1.30 no
# StorageClass is the default: without both, every claim stays Pending and helm rolls back.

data "aws_iam_policy_document" "ebs_csi_trust" {
  statement {
    effect  = "Allow"
    actions = ["sts:AssumeRoleWithWebIdentity"]
    principals {
      type        = "Federated"
      identifiers = [aws_iam_openid_connect_provider.this.arn]
    }
    condition {
      test     = "StringEquals"
      variable = "${local.oidc}:sub"
      values   = ["system:serviceaccount:kube-system:ebs-csi-controller-sa"]
    }
    condition {
      test     = "StringEquals"
      variable = "${local.oidc}:aud"
      values   = ["sts.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "ebs_csi" {
  name               = "${var.name}-ebs-csi"
  assume_role_policy = data.aws_iam_policy_document.ebs_csi_trust.json
  tags               = merge(var.tags, { "mirante.io/service-account" = "kube-system/ebs-csi-controller-sa" })
}

resource "aws_iam_role_policy_attachment" "ebs_csi" {
  role       = aws_iam_role.ebs_csi.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy"
}

# Encrypted volumes with the module's key: the driver creates grants for EC2 to use it.
data "aws_iam_policy_document" "ebs_csi_key" {
  statement {
    sid       = "UseTheKeyForVolumes"
    effect    = "Allow"
    actions   = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"]
    resources = [aws_kms_key.cluster.arn]
  }
  statement {
    sid       = "GrantsForEc2"
    effect    = "Allow"
    actions   = ["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"]
    resources = [aws_kms_key.cluster.arn]
    condition {
      test     = "Bool"
      variable = "kms:GrantIsForAWSResource"
      values   = ["true"]
    }
  }
}

resource "aws_iam_role_policy" "ebs_csi_key" {
  name   = "volumes-key"
  role   = aws_iam_role.ebs_csi.id
  policy = data.aws_iam_policy_document.ebs_csi_key.json
}

resource "aws_eks_addon" "ebs_csi" {
  cluster_name                = aws_eks_cluster.this.name
  addon_name                  = "aws-ebs-csi-driver"
  service_account_role_arn    = aws_iam_role.ebs_csi.arn
  resolve_conflicts_on_create = "OVERWRITE"
  resolve_conflicts_on_update = "PRESERVE"
  tags                        = var.tags
  # The controller needs nodes to run on (the app's group: the monitoring one is tainted).
  depends_on = [aws_eks_node_group.this, aws_iam_role_policy_attachment.ebs_csi]
}

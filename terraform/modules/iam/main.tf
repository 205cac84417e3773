# One IRSA role per service account (var.roles): only that service account, in that
# namespace of this cluster, can assume it, and it may touch only the buckets it names:
# read and write objects (no bucket-level changes, no deletion of the bucket, no other
# bucket), listing only those buckets, and the buckets' KMS key for their objects.

data "aws_iam_policy_document" "trust" {
  for_each = var.roles
  statement {
    effect  = "Allow"
    actions = ["sts:AssumeRoleWithWebIdentity"]
    principals {
      type        = "Federated"
      identifiers = [var.oidc_provider_arn]
    }
    condition {
      test     = "StringEquals"
      variable = "${var.oidc_issuer}:sub"
      values   = ["system:serviceaccount:${each.value.namespace}:${each.value.service_account}"]
    }
    condition {
      test     = "StringEquals"
      variable = "${var.oidc_issuer}:aud"
      values   = ["sts.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "this" {
  for_each             = var.roles
  name                 = "${var.name_prefix}-${each.key}"
  assume_role_policy   = data.aws_iam_policy_document.trust[each.key].json
  max_session_duration = 3600
  tags                 = merge(var.tags, { "mirante.io/service-account" = "${each.value.namespace}/${each.value.service_account}" })
}

data "aws_iam_policy_document" "buckets" {
  for_each = var.roles
  statement {
    sid       = "ListTheseBuckets"
    effect    = "Allow"
    actions   = ["s3:ListBucket", "s3:GetBucketLocation"]
    resources = [for b in each.value.buckets : var.bucket_arns[b]]
  }
  statement {
    sid       = "Objects"
    effect    = "Allow"
    actions   = each.value.write ? ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"] : ["s3:GetObject"]
    resources = [for b in each.value.buckets : "${var.bucket_arns[b]}/${each.value.prefix}*"]
  }
  statement {
    sid       = "TheBucketsKey"
    effect    = "Allow"
    actions   = each.value.write ? ["kms:Decrypt", "kms:GenerateDataKey"] : ["kms:Decrypt"]
    resources = [var.kms_key_arn]
  }
}

resource "aws_iam_role_policy" "buckets" {
  for_each = { for name, role in var.roles : name => role if length(role.buckets) > 0 }
  name     = "buckets"
  role     = aws_iam_role.this[each.key].id
  policy   = data.aws_iam_policy_document.buckets[each.key].json
}

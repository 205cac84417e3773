variable "name" {
  description = "The cluster's name (mirante-<env>), also the prefix of its roles."
  type        = string
}

variable "kubernetes_version" {
  description = "The EKS Kubernetes version."
  type        = string
}

variable "subnet_ids" {
  description = "The private subnets the control plane and the nodes use."
  type        = list(string)
}

variable "public_access_cidrs" {
  description = "CIDRs that may reach the API from outside the VPC; empty: private only."
  type        = list(string)
  validation {
    condition     = !contains(var.public_access_cidrs, "0.0.0.0/0")
    error_message = "public_access_cidrs must not contain 0.0.0.0/0: name the ranges that need the API."
  }
}

variable "api_allowed_cidrs" {
  description = "Networks (a VPN, a bastion's) let in on 443 to the private API endpoint."
  type        = list(string)
  validation {
    condition     = !contains(var.api_allowed_cidrs, "0.0.0.0/0")
    error_message = "api_allowed_cidrs must not contain 0.0.0.0/0: name the VPN or bastion ranges."
  }
}

variable "operator_role_arns" {
  description = "IAM roles of the people who operate the cluster: each gets an access entry, cluster admin."
  type        = list(string)
}

variable "ci_role_arns" {
  description = "IAM roles CI runs k8s.install as: each gets an access entry, cluster admin (helm installs CRDs)."
  type        = list(string)
}

variable "log_retention_days" {
  description = "Days the control-plane logs (/aws/eks/<name>/cluster) are kept."
  type        = number
}

variable "node_groups" {
  description = "One managed node group per namespace: its size, instances and whether it is dedicated (tainted)."
  type = map(object({
    namespace      = string
    instance_types = list(string)
    min            = number
    max            = number
    desired        = number
    disk_gib       = number
    dedicated      = bool
  }))
}

variable "tags" {
  description = "Tags of every resource."
  type        = map(string)
}

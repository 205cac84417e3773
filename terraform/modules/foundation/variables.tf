variable "env" {
  description = "The environment's name (dev, staging, prod), as config/environments.yaml names it."
  type        = string
}

variable "vpc_cidr" {
  description = "The VPC's address range (a /16)."
  type        = string
}

variable "zones" {
  description = "The availability zones the VPC spans, by name (2 or 3)."
  type        = list(string)
}

variable "single_nat_gateway" {
  description = "One NAT gateway for all zones instead of one per zone."
  type        = bool
}

variable "flow_log_retention_days" {
  description = "Days the VPC's rejected-traffic flow logs are kept."
  type        = number
}

variable "kubernetes_version" {
  description = "The EKS Kubernetes version."
  type        = string
}

variable "public_access_cidrs" {
  description = "CIDRs that may reach the cluster's API from outside the VPC."
  type        = list(string)
}

variable "node_groups" {
  description = "One node group per namespace (see module eks)."
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

variable "buckets" {
  description = "One bucket per signal and its retention in days (see module s3)."
  type        = map(object({ retention_days = number }))
}

variable "noncurrent_days" {
  description = "Days a replaced object's previous version is kept."
  type        = number
}

variable "access_log_retention_days" {
  description = "Days the buckets' access logs are kept."
  type        = number
}

variable "irsa_roles" {
  description = "One IRSA role per service account (see module iam)."
  type = map(object({
    namespace       = string
    service_account = string
    buckets         = list(string)
    prefix          = string
    write           = bool
  }))
}

variable "tags" {
  description = "Tags of every resource, beside mirante.io/env."
  type        = map(string)
}

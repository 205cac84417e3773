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

variable "api_allowed_cidrs" {
  description = "VPN or bastion networks let in to the private API endpoint (443)."
  type        = list(string)
}

variable "operator_role_arns" {
  description = "IAM roles of the cluster's operators (access entries, cluster admin)."
  type        = list(string)
}

variable "ci_role_arns" {
  description = "IAM roles CI runs k8s.install as (access entries, cluster admin)."
  type        = list(string)
}

variable "control_plane_log_retention_days" {
  description = "Days the EKS control-plane logs are kept."
  type        = number
}

variable "bucket_suffix" {
  description = "The end of every bucket name (mirante-<env>-<signal>-<suffix>); empty: the account id."
  type        = string
}

variable "observability_namespace" {
  description = "The namespace of the observability releases (config/environments.yaml: namespaces.observability)."
  type        = string
}

variable "app_namespace" {
  description = "The app's namespace (config/environments.yaml: namespaces.app)."
  type        = string
}

variable "monitoring_nodes" {
  description = "The observability node group: instance types, sizes, disk."
  type = object({
    instance_types = list(string)
    min            = number
    max            = number
    desired        = number
    disk_gib       = number
  })
}

variable "app_nodes" {
  description = "The app's node group: instance types, sizes, disk."
  type = object({
    instance_types = list(string)
    min            = number
    max            = number
    desired        = number
    disk_gib       = number
  })
}

variable "object_storage" {
  description = "Loki and Tempo on S3 (buckets and IRSA roles for logs and traces); false: on volumes."
  type        = bool
}

variable "retention_days" {
  description = "Days each signal's bucket keeps its objects: logs, traces (with object_storage), metrics, backups."
  type        = map(number)
}

variable "noncurrent_days" {
  description = "Days a replaced object's previous version is kept."
  type        = number
}

variable "access_log_retention_days" {
  description = "Days the buckets' access logs are kept."
  type        = number
}

variable "tags" {
  description = "Tags of every resource, beside mirante.io/env."
  type        = map(string)
}

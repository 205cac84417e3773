variable "name" {
  description = "Name of the VPC and prefix of what it holds (mirante-<env>)."
  type        = string
}

variable "cluster_name" {
  description = "The EKS cluster whose load balancers use these subnets (subnet tags)."
  type        = string
}

variable "cidr" {
  description = "The VPC's address range; each subnet is a /20 of a /16."
  type        = string
}

variable "az_count" {
  description = "How many availability zones the subnets span."
  type        = number
  validation {
    condition     = var.az_count >= 2 && var.az_count <= 3
    error_message = "az_count must be 2 or 3 (EKS needs subnets in at least two zones)."
  }
}

variable "single_nat_gateway" {
  description = "One NAT gateway for every zone (cheaper; the zones share its fate)."
  type        = bool
}

variable "flow_log_retention_days" {
  description = "How long the rejected-traffic flow logs are kept, in days."
  type        = number
}

variable "tags" {
  description = "Tags of every resource."
  type        = map(string)
}

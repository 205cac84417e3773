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

variable "zones" {
  description = "The availability zones the subnets span, by name (their count is the AZ count)."
  type        = list(string)
  validation {
    condition     = length(var.zones) >= 2 && length(var.zones) <= 3
    error_message = "zones must name 2 or 3 availability zones (EKS needs subnets in at least two)."
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

variable "name_prefix" {
  description = "Prefix of every bucket name (mirante-<env>): buckets are <prefix>-<signal>."
  type        = string
}

variable "buckets" {
  description = "One bucket per signal, and how many days its objects are kept."
  type = map(object({
    retention_days = number
  }))
  validation {
    condition     = alltrue([for b in values(var.buckets) : b.retention_days >= 1])
    error_message = "Every bucket keeps its objects at least 1 day."
  }
}

variable "bucket_suffix" {
  description = "The end of every bucket name (mirante-<env>-<signal>-<suffix>); empty: the account id."
  type        = string
  validation {
    condition     = can(regex("^([a-z0-9][a-z0-9-]{0,19})?$", var.bucket_suffix))
    error_message = "bucket_suffix is at most 20 lower-case letters, digits or dashes (empty: the account id)."
  }
}

variable "noncurrent_days" {
  description = "Days a replaced or deleted object's previous version is kept (a mistake's undo window)."
  type        = number
}

variable "access_log_retention_days" {
  description = "Days the buckets' access logs are kept."
  type        = number
}

variable "tags" {
  description = "Tags of every resource."
  type        = map(string)
}

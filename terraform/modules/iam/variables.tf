variable "name_prefix" {
  description = "Prefix of every role name (mirante-<env>): roles are <prefix>-<name>."
  type        = string
}

variable "oidc_provider_arn" {
  description = "The cluster's OIDC provider (module eks)."
  type        = string
}

variable "oidc_issuer" {
  description = "The cluster's OIDC issuer without https:// (module eks)."
  type        = string
}

variable "roles" {
  description = "One role per service account: where it runs, the buckets (by signal) it may use, the key prefix, and whether it writes."
  type = map(object({
    namespace       = string
    service_account = string
    buckets         = list(string)
    prefix          = string
    write           = bool
  }))
}

variable "bucket_arns" {
  description = "Each signal's bucket ARN (module s3)."
  type        = map(string)
}

variable "kms_key_arn" {
  description = "The buckets' KMS key (module s3)."
  type        = string
}

variable "tags" {
  description = "Tags of every resource."
  type        = map(string)
}

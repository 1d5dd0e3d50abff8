variable "project_id" {
  type        = string
  description = "Project that owns the buckets."
}

variable "location" {
  type        = string
  description = "Location (region) of every bucket."
}

variable "name_prefix" {
  type        = string
  description = "Prefix of bucket names (globally unique, e.g. <project>-llmops-dev); each bucket is <prefix>-<key>, the access logs <prefix>-access-logs (63 characters at most)."

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{1,48}[a-z0-9]$", var.name_prefix))
    error_message = "name_prefix must be 3-50 lower-case letters, digits or hyphens, starting and ending with a letter or digit."
  }
}

variable "buckets" {
  type = map(object({
    purpose                   = string
    noncurrent_versions_kept  = optional(number, 3)
    noncurrent_retention_days = optional(number, 30)
    delete_objects_after_days = optional(number)
    nearline_after_days       = optional(number)
    force_destroy             = optional(bool, false)
  }))
  description = "Buckets by key (data, staging, ...): what each holds and its lifecycle rules. Versioning is always on; old versions are pruned by the noncurrent rules."

  validation {
    condition     = alltrue([for key, _ in var.buckets : can(regex("^[a-z][a-z0-9-]{0,20}$", key))])
    error_message = "buckets keys must be lower-case letters, digits or hyphens (at most 21 characters)."
  }
}

variable "access_log_retention_days" {
  type        = number
  description = "Days the access-log bucket keeps usage and storage logs."
  default     = 90

  validation {
    condition     = var.access_log_retention_days >= 1
    error_message = "access_log_retention_days must be at least 1."
  }
}

variable "kms_key_name" {
  type        = string
  description = "Cloud KMS key (projects/.../cryptoKeys/...) for default bucket encryption; null keeps Google-managed keys."
  default     = null
}

variable "labels" {
  type        = map(string)
  description = "Labels put on every bucket."
  default     = {}
}

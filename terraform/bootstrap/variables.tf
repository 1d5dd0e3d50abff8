variable "project_id" {
  type        = string
  description = "Project that holds the Terraform state bucket (usually the prod project or a shared admin project)."
}

variable "location" {
  type        = string
  description = "Location of the state bucket."
  default     = "EU"
}

variable "kms_key_name" {
  type        = string
  description = "Cloud KMS key for the state bucket; null keeps Google-managed keys."
  default     = null
}

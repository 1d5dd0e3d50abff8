variable "project_id" {
  type        = string
  description = "Project that owns the repository."
}

variable "location" {
  type        = string
  description = "Region of the repository (same as Vertex AI, so image pulls stay in region)."
}

variable "repository_id" {
  type        = string
  description = "Docker repository id; the trainer/serving image is <location>-docker.pkg.dev/<project>/<repository_id>/trainer."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,62}$", var.repository_id))
    error_message = "repository_id must start with a letter and hold lower-case letters, digits or hyphens (at most 63)."
  }
}

variable "keep_recent_versions" {
  type        = number
  description = "Cleanup policy: image versions always kept per package, newest first."
  default     = 20

  validation {
    condition     = var.keep_recent_versions >= 1
    error_message = "keep_recent_versions must be at least 1."
  }
}

variable "delete_untagged_after_days" {
  type        = number
  description = "Cleanup policy: untagged images older than this many days are deleted."
  default     = 30
}

variable "readers" {
  type        = map(string)
  description = "Members allowed to pull images, by a stable key (e.g. training = serviceAccount:...)."
  default     = {}
}

variable "writers" {
  type        = map(string)
  description = "Members allowed to push images, by a stable key (e.g. the CI build identity)."
  default     = {}
}

variable "kms_key_name" {
  type        = string
  description = "Cloud KMS key for the repository; null keeps Google-managed keys."
  default     = null
}

variable "labels" {
  type        = map(string)
  description = "Labels put on the repository."
  default     = {}
}

variable "project_id" {
  type        = string
  description = "Project of the Composer environment."
}

variable "region" {
  type        = string
  description = "Region of the Composer environment."
}

variable "name" {
  type        = string
  description = "Environment name."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,62}[a-z0-9]$", var.name))
    error_message = "name must start with a letter and hold lower-case letters, digits or hyphens."
  }
}

variable "image_version" {
  type        = string
  description = "Composer 3 image with Airflow 3 (composer-3-airflow-3[.x.y][-build.N])."
  default     = "composer-3-airflow-3"

  validation {
    condition     = can(regex("^composer-3-airflow-3(\\.[0-9]+){0,2}(-build\\.[0-9]+)?$", var.image_version))
    error_message = "image_version must be a Composer 3 image with Airflow 3 (composer-3-airflow-3[.x.y][-build.N]): the DAGs use the Airflow 3 task SDK."
  }
}

variable "requirements_file" {
  type        = string
  description = "The repository's requirements.txt: one pin per line (name[extras]==version), read into pypi_packages."
}

variable "env_variables" {
  type        = map(string)
  description = "Environment variables of every Airflow component: the LLMOPS_* settings of the gcp target."

  validation {
    condition     = alltrue([for key, _ in var.env_variables : can(regex("^(LLMOPS|AIRFLOW_VAR)_[A-Z0-9_]+$", key))])
    error_message = "env_variables keys must be LLMOPS_* settings (nested with __) or AIRFLOW_VAR_* variables."
  }
}

variable "airflow_config_overrides" {
  type        = map(string)
  description = "Airflow configuration overrides (section-key = value)."
  default     = {}
}

variable "service_account" {
  type        = string
  description = "E-mail of the service account the environment runs as."
}

variable "environment_size" {
  type        = string
  description = "Size of the environment's managed database and web server."
  default     = "ENVIRONMENT_SIZE_SMALL"

  validation {
    condition     = contains(["ENVIRONMENT_SIZE_SMALL", "ENVIRONMENT_SIZE_MEDIUM", "ENVIRONMENT_SIZE_LARGE"], var.environment_size)
    error_message = "environment_size must be ENVIRONMENT_SIZE_SMALL, ENVIRONMENT_SIZE_MEDIUM or ENVIRONMENT_SIZE_LARGE."
  }
}

variable "resilience_mode" {
  type        = string
  description = "STANDARD_RESILIENCE, or HIGH_RESILIENCE for a multi-zone environment (production)."
  default     = "STANDARD_RESILIENCE"

  validation {
    condition     = contains(["STANDARD_RESILIENCE", "HIGH_RESILIENCE"], var.resilience_mode)
    error_message = "resilience_mode must be STANDARD_RESILIENCE or HIGH_RESILIENCE."
  }
}

variable "workloads" {
  type = object({
    scheduler_cpu       = optional(number, 1)
    scheduler_memory_gb = optional(number, 4)
    scheduler_count     = optional(number, 1)
    worker_cpu          = optional(number, 2)
    worker_memory_gb    = optional(number, 8)
    worker_min_count    = optional(number, 1)
    worker_max_count    = optional(number, 3)
    triggerer_cpu       = optional(number, 0.5)
    triggerer_memory_gb = optional(number, 1)
    triggerer_count     = optional(number, 1)
  })
  description = "CPU, memory and counts of the Airflow components. A triggerer is required: long cloud waits are deferrable."
  default     = {}

  validation {
    condition     = var.workloads.triggerer_count >= 1 && var.workloads.worker_min_count >= 1 && var.workloads.worker_max_count >= var.workloads.worker_min_count
    error_message = "workloads needs triggerer_count >= 1 (deferrable operators) and 1 <= worker_min_count <= worker_max_count."
  }
}

variable "kms_key_name" {
  type        = string
  description = "Cloud KMS key for the environment's data; null keeps Google-managed keys."
  default     = null
}

variable "labels" {
  type        = map(string)
  description = "Labels put on the environment."
  default     = {}
}

# Inputs of one LLMOps Factory environment. Constrained values are validated here, so a bad tfvars
# value fails `terraform plan` with a message naming the variable.

variable "project_id" {
  type        = string
  description = "Google Cloud project of the environment (the gcp.project_id setting)."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a Google Cloud project id: 6-30 lower-case letters, digits or hyphens, starting with a letter."
  }
}

variable "environment" {
  type        = string
  description = "Environment name (dev, prod, ...): part of resource names, labels and the LLMOPS_ENVIRONMENT setting."

  validation {
    condition     = can(regex("^[a-z][a-z0-9]{1,9}$", var.environment))
    error_message = "environment must be 2-10 lower-case letters or digits, starting with a letter."
  }
}

variable "region" {
  type        = string
  description = "Region of Composer, Vertex AI (training with A100s, endpoint), Dataflow, Artifact Registry and the buckets."

  validation {
    condition     = contains(["us-central1", "us-east1", "us-east4", "us-west1", "europe-west1", "europe-west4", "asia-northeast1", "asia-southeast1"], var.region)
    error_message = "region must be one of us-central1, us-east1, us-east4, us-west1, europe-west1, europe-west4, asia-northeast1, asia-southeast1 (regions with Composer 3, Dataflow and Vertex AI A100 training)."
  }
}

variable "bigquery_location" {
  type        = string
  description = "Location of the warehouse dataset (EU, US or a region); must hold the region's data (EU for europe-*, US for us-*)."
  default     = "EU"

  validation {
    condition     = can(regex("^(EU|US|[a-z]+-[a-z]+[0-9])$", var.bigquery_location))
    error_message = "bigquery_location must be EU, US or a region name such as europe-west4."
  }
}

variable "use_case" {
  type        = string
  description = "Registry model name, one per use case (the use_case setting)."
  default     = "support-assistant"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,62}$", var.use_case))
    error_message = "use_case must be lower-case letters, digits or hyphens, starting with a letter."
  }
}

variable "kms_key_name" {
  type        = string
  description = "Cloud KMS key (projects/<p>/locations/<region>/keyRings/<r>/cryptoKeys/<k>) for buckets, BigQuery, Artifact Registry, the endpoint and Composer; null keeps Google-managed keys. The services' agents need roles/cloudkms.cryptoKeyEncrypterDecrypter on it."
  default     = null

  validation {
    condition     = var.kms_key_name == null || can(regex("^projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+$", var.kms_key_name))
    error_message = "kms_key_name must be null or projects/<p>/locations/<l>/keyRings/<r>/cryptoKeys/<k>."
  }
}

variable "deletion_protection" {
  type        = bool
  description = "Refuse to destroy warehouse tables (keep true wherever the data matters)."
  default     = true
}

variable "data_nearline_after_days" {
  type        = number
  description = "Objects of the data bucket move to Nearline after this many days (raw days, old datasets and models are read rarely)."
  default     = 90

  validation {
    condition     = var.data_nearline_after_days >= 30
    error_message = "data_nearline_after_days must be at least 30 (Nearline's minimum storage duration)."
  }
}

variable "staging_retention_days" {
  type        = number
  description = "Days the staging bucket (Dataflow temp and staging, Vertex AI staging) keeps objects."
  default     = 14

  validation {
    condition     = var.staging_retention_days >= 1
    error_message = "staging_retention_days must be at least 1."
  }
}

variable "composer" {
  type = object({
    image_version    = optional(string, "composer-3-airflow-3")
    environment_size = optional(string, "ENVIRONMENT_SIZE_SMALL")
    resilience_mode  = optional(string, "STANDARD_RESILIENCE")
    workloads = optional(object({
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
    }), {})
  })
  description = "Composer 3 environment: image (Airflow 3), size, resilience and Airflow component resources."
  default     = {}
}

variable "dataflow_machine_type" {
  type        = string
  description = "Dataflow worker machine type (the gcp.dataflow.machine_type setting)."
  default     = "n2-standard-4"

  validation {
    condition     = can(regex("^(n1|n2|n2d|e2|c2|c3)-(standard|highmem|highcpu)-[0-9]+$", var.dataflow_machine_type))
    error_message = "dataflow_machine_type must be a general-purpose machine type such as n2-standard-4."
  }
}

variable "dataflow_max_workers" {
  type        = number
  description = "Dataflow autoscaling ceiling (the gcp.dataflow.max_workers setting)."
  default     = 10

  validation {
    condition     = var.dataflow_max_workers >= 1 && var.dataflow_max_workers <= 1000 && floor(var.dataflow_max_workers) == var.dataflow_max_workers
    error_message = "dataflow_max_workers must be a whole number from 1 to 1000."
  }
}

variable "training_machine_type" {
  type        = string
  description = "Vertex AI training machine type (the gcp.training.machine_type setting)."
  default     = "a2-highgpu-1g"

  validation {
    condition     = can(regex("^(a2-(highgpu|ultragpu|megagpu)-[0-9]+g|a3-(highgpu|megagpu)-[0-9]+g|g2-standard-[0-9]+|n1-(standard|highmem)-[0-9]+)$", var.training_machine_type))
    error_message = "training_machine_type must be a Vertex AI training machine with GPUs (a2-highgpu-Ng, a2-ultragpu-Ng, a3-highgpu-Ng, g2-standard-N or n1-standard-N/n1-highmem-N)."
  }
}

variable "training_accelerator_type" {
  type        = string
  description = "Accelerator of each training replica (the gcp.training.accelerator_type setting); must fit the machine family."
  default     = "NVIDIA_TESLA_A100"

  validation {
    condition = contains(["NVIDIA_TESLA_A100", "NVIDIA_A100_80GB", "NVIDIA_H100_80GB", "NVIDIA_L4", "NVIDIA_TESLA_T4", "NVIDIA_TESLA_V100"], var.training_accelerator_type) && (
      startswith(var.training_machine_type, "a2-highgpu") ? var.training_accelerator_type == "NVIDIA_TESLA_A100" :
      startswith(var.training_machine_type, "a2-ultragpu") ? var.training_accelerator_type == "NVIDIA_A100_80GB" :
      startswith(var.training_machine_type, "a2-megagpu") ? var.training_accelerator_type == "NVIDIA_TESLA_A100" :
      startswith(var.training_machine_type, "a3-") ? var.training_accelerator_type == "NVIDIA_H100_80GB" :
      startswith(var.training_machine_type, "g2-") ? var.training_accelerator_type == "NVIDIA_L4" :
      contains(["NVIDIA_TESLA_T4", "NVIDIA_TESLA_V100"], var.training_accelerator_type)
    )
    error_message = "training_accelerator_type must fit training_machine_type: a2-highgpu/a2-megagpu NVIDIA_TESLA_A100, a2-ultragpu NVIDIA_A100_80GB, a3 NVIDIA_H100_80GB, g2 NVIDIA_L4, n1 NVIDIA_TESLA_T4 or NVIDIA_TESLA_V100."
  }
}

variable "training_accelerator_count" {
  type        = number
  description = "Accelerators per training replica (the gcp.training.accelerator_count setting)."
  default     = 1

  validation {
    condition     = contains([1, 2, 4, 8, 16], var.training_accelerator_count)
    error_message = "training_accelerator_count must be 1, 2, 4, 8 or 16."
  }
}

variable "serving_machine_type" {
  type        = string
  description = "Machine type of each endpoint replica (the gcp.serving.machine_type setting)."
  default     = "g2-standard-8"

  validation {
    condition     = can(regex("^(g2-standard-[0-9]+|a2-(highgpu|ultragpu)-[0-9]+g|n1-(standard|highmem)-[0-9]+|n2-standard-[0-9]+|e2-standard-[0-9]+)$", var.serving_machine_type))
    error_message = "serving_machine_type must be a Vertex AI prediction machine type (g2-standard-N, a2-highgpu-Ng, a2-ultragpu-Ng, n1-standard-N, n1-highmem-N, n2-standard-N or e2-standard-N)."
  }
}

variable "serving_accelerator_type" {
  type        = string
  description = "Accelerator of each endpoint replica (the gcp.serving.accelerator_type setting); NONE for CPU serving."
  default     = "NVIDIA_L4"

  validation {
    condition     = contains(["NONE", "NVIDIA_L4", "NVIDIA_TESLA_T4", "NVIDIA_TESLA_A100", "NVIDIA_A100_80GB"], var.serving_accelerator_type)
    error_message = "serving_accelerator_type must be NONE, NVIDIA_L4, NVIDIA_TESLA_T4, NVIDIA_TESLA_A100 or NVIDIA_A100_80GB."
  }
}

variable "serving_replicas" {
  type = object({
    min = number
    max = number
  })
  description = "Autoscaling floor and ceiling of each deployed model (the gcp.serving.min_replica_count / max_replica_count settings)."
  default     = { min = 1, max = 2 }

  validation {
    condition     = var.serving_replicas.min >= 1 && var.serving_replicas.max >= var.serving_replicas.min && var.serving_replicas.max <= 100
    error_message = "serving_replicas must satisfy 1 <= min <= max <= 100."
  }
}

variable "canary_traffic_percent" {
  type        = number
  description = "Default traffic share (percent) a new challenger gets on the endpoint (the deploy.canary_percent setting); the DAGs own the split itself."
  default     = 10

  validation {
    condition     = var.canary_traffic_percent >= 1 && var.canary_traffic_percent <= 50 && floor(var.canary_traffic_percent) == var.canary_traffic_percent
    error_message = "canary_traffic_percent must be a whole number from 1 to 50: a canary takes a minority of the traffic."
  }
}

variable "trainer_image_tag" {
  type        = string
  description = "Tag of the trainer/serving image cloudbuild.yaml pushes (latest, or a commit SHA to pin)."
  default     = "latest"

  validation {
    condition     = can(regex("^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$", var.trainer_image_tag))
    error_message = "trainer_image_tag must be a valid Docker tag."
  }
}

variable "endpoint_id" {
  type        = string
  description = "Numeric id of the Vertex AI endpoint (chosen here, so the gcp.endpoint_id setting is known before apply)."

  validation {
    condition     = can(regex("^[1-9][0-9]{0,9}$", var.endpoint_id))
    error_message = "endpoint_id must be numeric with no leading zero, at most 10 digits."
  }
}

variable "prediction_logging_sampling_rate" {
  type        = number
  description = "Share of endpoint requests logged to the prediction log, in (0, 1]."
  default     = 1
}

variable "alert_emails" {
  type        = list(string)
  description = "On-call e-mail addresses: Cloud Monitoring notification channel, budget alerts, and the first one is the alert_email setting."
}

variable "alert_thresholds" {
  type        = map(number)
  description = "Per-environment thresholds by metric name, overriding the defaults in the code's metrics.yaml."
  default     = {}
}

variable "budget" {
  type = object({
    billing_account = string
    amount_usd      = number
    thresholds      = optional(list(number), [0.5, 0.9, 1.0])
  })
  description = "Optional monthly billing budget with alerts; null creates none."
  default     = null
}

variable "image_pushers" {
  type        = map(string)
  description = "Members allowed to push the trainer image (e.g. ci = serviceAccount:<build identity>), by a stable key."
  default     = {}
}

variable "labels" {
  type        = map(string)
  description = "Extra labels put on every resource that takes labels."
  default     = {}
}

variable "project_id" {
  type        = string
  description = "Google Cloud project of this environment."
}

variable "region" {
  type        = string
  description = "Region of the environment (validated by the platform module)."
  default     = "europe-west4"
}

variable "bigquery_location" {
  type        = string
  description = "Location of the warehouse dataset (EU for europe-* regions, US for us-*)."
  default     = "EU"
}

variable "endpoint_id" {
  type        = string
  description = "Numeric id of the Vertex AI endpoint (at most 10 digits, no leading zero)."
}

variable "alert_emails" {
  type        = list(string)
  description = "On-call e-mail addresses for alerts and budget notifications."
}

variable "alert_thresholds" {
  type        = map(number)
  description = "Alert thresholds by metric name, overriding the defaults of the code's metrics.yaml."
  default     = {}
}

variable "training_machine_type" {
  type        = string
  description = "Vertex AI training machine type."
  default     = "a2-highgpu-1g"
}

variable "training_accelerator_type" {
  type        = string
  description = "Accelerator of each training replica (must fit the machine family)."
  default     = "NVIDIA_TESLA_A100"
}

variable "serving_machine_type" {
  type        = string
  description = "Machine type of each endpoint replica."
  default     = "g2-standard-8"
}

variable "canary_traffic_percent" {
  type        = number
  description = "Default traffic share (percent) of a new challenger."
  default     = 10
}

variable "kms_key_name" {
  type        = string
  description = "Cloud KMS key for CMEK, or null for Google-managed keys."
  default     = null
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
  description = "Members allowed to push the trainer image (the CI build identity), by a stable key."
  default     = {}
}

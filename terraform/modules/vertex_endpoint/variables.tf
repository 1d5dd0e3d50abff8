variable "project_id" {
  type        = string
  description = "Project of the endpoint."
}

variable "region" {
  type        = string
  description = "Vertex AI region of the endpoint."
}

variable "endpoint_id" {
  type        = string
  description = "Numeric id of the endpoint (the resource name's last part), chosen here so the settings know it before apply."

  validation {
    condition     = can(regex("^[1-9][0-9]{0,9}$", var.endpoint_id))
    error_message = "endpoint_id must be numeric with no leading zero, at most 10 digits."
  }
}

variable "display_name" {
  type        = string
  description = "Display name of the endpoint."
}

variable "log_table" {
  type = object({
    project = string
    dataset = string
    table   = string
  })
  description = "BigQuery table of request-response logging (the warehouse's prediction_log). Vertex AI creates the table in the existing dataset."
}

variable "logging_sampling_rate" {
  type        = number
  description = "Share of requests logged to the prediction log, in (0, 1]; monitoring needs every request, so 1 unless traffic is huge."
  default     = 1

  validation {
    condition     = var.logging_sampling_rate > 0 && var.logging_sampling_rate <= 1
    error_message = "logging_sampling_rate must be in (0, 1]."
  }
}

variable "kms_key_name" {
  type        = string
  description = "Cloud KMS key for the endpoint; null keeps Google-managed keys."
  default     = null
}

variable "labels" {
  type        = map(string)
  description = "Labels put on the endpoint."
  default     = {}
}

variable "project_id" {
  type        = string
  description = "Project of the metrics, alert policies and notification channels."
}

variable "environment" {
  type        = string
  description = "Environment name: alert policies watch only the points this environment writes (metric label environment)."
}

variable "metrics_file" {
  type        = string
  description = "The code's metrics.yaml (llmops_factory.observability): metric names, units, kinds, labels and alert rules."
}

variable "alert_thresholds" {
  type        = map(number)
  description = "Per-environment override of an alert's threshold, by metric name (a metric with an alert in metrics_file)."
  default     = {}
}

variable "notification_emails" {
  type        = list(string)
  description = "E-mail addresses of the on-call notification channel."

  validation {
    condition     = length(var.notification_emails) > 0 && alltrue([for email in var.notification_emails : can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", email))])
    error_message = "notification_emails must hold at least one valid e-mail address: an alert nobody receives is no alert."
  }
}

variable "alignment_period" {
  type        = string
  description = "Alignment window of the alert conditions. The monitoring DAG writes one point per model version and day, so any window holding that point works."
  default     = "600s"
}

variable "auto_close" {
  type        = string
  description = "An open incident closes by itself after this long without a breaching point (the next day's point)."
  default     = "86400s"
}

variable "budget" {
  type = object({
    billing_account = string
    amount_usd      = number
    thresholds      = optional(list(number), [0.5, 0.9, 1.0])
  })
  description = "Optional billing budget of the project with alerts to the notification channel; null creates none."
  default     = null

  validation {
    condition     = var.budget == null || try(var.budget.amount_usd > 0 && alltrue([for t in var.budget.thresholds : t > 0 && t <= 2]), false)
    error_message = "budget.amount_usd must be positive and budget.thresholds fractions in (0, 2]."
  }
}

variable "labels" {
  type        = map(string)
  description = "User labels put on the alert policies and channels."
  default     = {}
}

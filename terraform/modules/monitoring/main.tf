# Custom metric descriptors and alert policies built from the code's metrics file: the metrics the
# monitoring DAG writes (llmops_factory.observability) are exactly the ones described and alerted on.

locals {
  catalogue          = yamldecode(file(var.metrics_file))
  metrics            = local.catalogue.metrics
  alerting           = { for name, spec in local.metrics : name => spec if try(spec.alert, null) != null }
  unknown_thresholds = setsubtract(keys(var.alert_thresholds), keys(local.alerting))
}

resource "google_monitoring_metric_descriptor" "main" {
  for_each = local.metrics

  project      = var.project_id
  type         = "${local.catalogue.prefix}/${each.key}"
  metric_kind  = each.value.kind
  value_type   = each.value.value_type
  unit         = each.value.unit
  description  = each.value.description
  display_name = "llmops ${each.key}"

  dynamic "labels" {
    for_each = local.catalogue.labels
    content {
      key         = labels.key
      value_type  = "STRING"
      description = labels.value
    }
  }
}

resource "google_monitoring_notification_channel" "email" {
  for_each = toset(var.notification_emails)

  project      = var.project_id
  display_name = "llmops ${var.environment} on-call ${each.value}"
  type         = "email"
  labels       = { email_address = each.value }
  user_labels  = var.labels
}

resource "google_monitoring_alert_policy" "main" {
  for_each = local.alerting

  project               = var.project_id
  display_name          = "llmops ${var.environment}: ${each.key}"
  combiner              = "OR"
  severity              = each.value.alert.severity
  notification_channels = [for channel in google_monitoring_notification_channel.email : channel.id]
  user_labels           = merge(var.labels, { metric = each.key })

  conditions {
    display_name = "${each.key} ${each.value.alert.comparison == "COMPARISON_GT" ? "above" : "below"} ${lookup(var.alert_thresholds, each.key, each.value.alert.threshold)}"

    condition_threshold {
      filter                  = "metric.type=\"${google_monitoring_metric_descriptor.main[each.key].type}\" AND resource.type=\"${local.catalogue.monitored_resource}\" AND metric.label.environment=\"${var.environment}\""
      comparison              = each.value.alert.comparison
      threshold_value         = lookup(var.alert_thresholds, each.key, each.value.alert.threshold)
      duration                = "0s"
      evaluation_missing_data = "EVALUATION_MISSING_DATA_INACTIVE"

      aggregations {
        alignment_period   = var.alignment_period
        per_series_aligner = each.value.alert.comparison == "COMPARISON_GT" ? "ALIGN_MAX" : "ALIGN_MIN"
      }

      trigger {
        count = 1
      }
    }
  }

  alert_strategy {
    auto_close = var.auto_close
  }

  documentation {
    subject   = "llmops ${var.environment}: ${each.key} breached"
    content   = "${each.value.description}\n\n${each.value.alert.runbook}\n\nThe point carries model_version, prompt_version, role and endpoint_id labels; the monitoring DAG's run for the day has the details."
    mime_type = "text/markdown"
  }

  lifecycle {
    precondition {
      condition     = length(local.unknown_thresholds) == 0
      error_message = "alert_thresholds names metrics without an alert in ${var.metrics_file}: ${join(", ", local.unknown_thresholds)}."
    }
  }
}

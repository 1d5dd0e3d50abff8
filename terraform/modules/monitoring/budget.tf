# Optional billing budget: alerts at fractions of the monthly amount, to the same on-call channel.

data "google_project" "main" {
  project_id = var.project_id
}

resource "google_billing_budget" "main" {
  count = var.budget == null ? 0 : 1

  billing_account = var.budget.billing_account
  display_name    = "llmops ${var.environment} monthly budget"

  budget_filter {
    projects = ["projects/${data.google_project.main.number}"]
  }

  amount {
    specified_amount {
      currency_code = "USD"
      units         = tostring(floor(var.budget.amount_usd))
    }
  }

  dynamic "threshold_rules" {
    for_each = var.budget.thresholds
    content {
      threshold_percent = threshold_rules.value
    }
  }

  all_updates_rule {
    monitoring_notification_channels = [for channel in google_monitoring_notification_channel.email : channel.id]
    disable_default_iam_recipients   = false
  }
}

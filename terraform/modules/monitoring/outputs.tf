output "metric_types" {
  description = "Custom metric types described here, by metric name."
  value       = { for name, descriptor in google_monitoring_metric_descriptor.main : name => descriptor.type }
}

output "alert_policies" {
  description = "Alert policy resource names, by metric name."
  value       = { for name, policy in google_monitoring_alert_policy.main : name => policy.name }
}

output "notification_channels" {
  description = "Notification channel ids."
  value       = [for channel in google_monitoring_notification_channel.email : channel.id]
}

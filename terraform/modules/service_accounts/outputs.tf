output "emails" {
  description = "Service account e-mail by key."
  value       = { for key, account in google_service_account.main : key => account.email }
}

output "names" {
  description = "Service account resource name (projects/.../serviceAccounts/...) by key."
  value       = { for key, account in google_service_account.main : key => account.name }
}

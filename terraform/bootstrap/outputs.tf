output "state_bucket" {
  description = "Give it to each environment: terraform init -backend-config=\"bucket=<this>\"."
  value       = google_storage_bucket.tfstate.name
}

output "bucket_names" {
  description = "Bucket name by key (no gs:// prefix)."
  value       = { for key, bucket in google_storage_bucket.main : key => bucket.name }
}

output "access_log_bucket" {
  description = "Name of the access-log bucket."
  value       = google_storage_bucket.access_logs.name
}

output "settings_env" {
  description = "LLMOPS_* settings of the Composer environment."
  value       = module.platform.settings_env
}

output "data_bucket" {
  description = "Main bucket (gcp.bucket; cloudbuild.yaml _DATA_BUCKET)."
  value       = module.platform.data_bucket
}

output "staging_bucket" {
  description = "Staging bucket (gcp.staging_bucket)."
  value       = module.platform.staging_bucket
}

output "bigquery_dataset" {
  description = "Warehouse dataset (gcp.bigquery_dataset)."
  value       = module.platform.bigquery_dataset
}

output "endpoint_id" {
  description = "Vertex AI endpoint id (gcp.endpoint_id)."
  value       = module.platform.endpoint_id
}

output "service_accounts" {
  description = "Service account e-mail by workload."
  value       = module.platform.service_accounts
}

output "artifact_repository" {
  description = "Docker repository URL of the trainer/serving image."
  value       = module.platform.artifact_repository
}

output "composer_bucket" {
  description = "Composer bucket (cloudbuild.yaml _COMPOSER_BUCKET)."
  value       = module.platform.composer_bucket
}

output "airflow_uri" {
  description = "Airflow UI of the environment."
  value       = module.platform.airflow_uri
}

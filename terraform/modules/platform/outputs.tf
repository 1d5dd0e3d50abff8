output "settings_env" {
  description = "The LLMOPS_* settings given to the Composer environment (what the DAGs read on the gcp target)."
  value       = local.settings_env
}

output "data_bucket" {
  description = "Main bucket (gcp.bucket): prompt bundles, raw data, datasets, models, reports; cloudbuild.yaml's _DATA_BUCKET."
  value       = module.storage.bucket_names["data"]
}

output "staging_bucket" {
  description = "Staging bucket (gcp.staging_bucket)."
  value       = module.storage.bucket_names["staging"]
}

output "bigquery_dataset" {
  description = "Warehouse dataset (gcp.bigquery_dataset)."
  value       = module.bigquery.dataset_id
}

output "endpoint_id" {
  description = "Vertex AI endpoint id (gcp.endpoint_id)."
  value       = module.vertex_endpoint.endpoint_id
}

output "endpoint_resource_name" {
  description = "Vertex AI endpoint resource name."
  value       = module.vertex_endpoint.endpoint_resource_name
}

output "service_accounts" {
  description = "Service account e-mail by workload (composer, dataflow, training, serving)."
  value       = module.service_accounts.emails
}

output "artifact_repository" {
  description = "Docker repository URL (cloudbuild.yaml's _ARTIFACT_REPO is its last part)."
  value       = module.artifact_registry.repository_url
}

output "trainer_image" {
  description = "Trainer/serving image the settings point at."
  value       = local.trainer_image
}

output "composer_bucket" {
  description = "Composer environment bucket (gs://...): cloudbuild.yaml's _COMPOSER_BUCKET, where the bundle is synced."
  value       = module.composer.bucket
}

output "airflow_uri" {
  description = "Airflow UI of the environment."
  value       = module.composer.airflow_uri
}

output "alert_policies" {
  description = "Alert policy resource names by metric."
  value       = module.monitoring.alert_policies
}

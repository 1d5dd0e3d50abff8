output "name" {
  description = "Environment name."
  value       = google_composer_environment.main.name
}

output "dag_gcs_prefix" {
  description = "gs:// folder Composer syncs DAGs from; its bucket is where the bundle's dags/, plugins/ and data/ go."
  value       = google_composer_environment.main.config[0].dag_gcs_prefix
}

output "bucket" {
  description = "The environment's bucket (gs://<name>), the _COMPOSER_BUCKET of cloudbuild.yaml."
  value       = regex("^(gs://[^/]+)", google_composer_environment.main.config[0].dag_gcs_prefix)[0]
}

output "airflow_uri" {
  description = "URL of the Airflow UI."
  value       = google_composer_environment.main.config[0].airflow_uri
}

output "pypi_packages" {
  description = "The PyPI packages installed, as read from requirements_file."
  value       = local.pypi_packages
}

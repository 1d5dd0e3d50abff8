# Development environment: small Composer, fewer workers and replicas, Google-managed keys unless
# kms_key_name is set. Warehouse tables keep deletion protection (the platform default) here too.

provider "google" {
  project = var.project_id
  region  = var.region

  default_labels = {
    managed_by = "terraform"
  }
}

module "platform" {
  source = "../../modules/platform"

  project_id                = var.project_id
  environment               = "dev"
  region                    = var.region
  bigquery_location         = var.bigquery_location
  endpoint_id               = var.endpoint_id
  alert_emails              = var.alert_emails
  alert_thresholds          = var.alert_thresholds
  training_machine_type     = var.training_machine_type
  training_accelerator_type = var.training_accelerator_type
  serving_machine_type      = var.serving_machine_type
  canary_traffic_percent    = var.canary_traffic_percent
  kms_key_name              = var.kms_key_name
  budget                    = var.budget
  image_pushers             = var.image_pushers

  staging_retention_days = 7
  dataflow_max_workers   = 4
  serving_replicas       = { min = 1, max = 1 }
  composer = {
    environment_size = "ENVIRONMENT_SIZE_SMALL"
    resilience_mode  = "STANDARD_RESILIENCE"
    workloads        = { worker_max_count = 2 }
  }
}

# Production environment: highly resilient Composer, deletion protection on the warehouse, room for
# serving replicas to scale out.

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
  environment               = "prod"
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

  deletion_protection    = true
  staging_retention_days = 14
  dataflow_max_workers   = 10
  serving_replicas       = { min = 1, max = 4 }
  composer = {
    environment_size = "ENVIRONMENT_SIZE_MEDIUM"
    resilience_mode  = "HIGH_RESILIENCE"
    workloads        = { scheduler_count = 2, worker_min_count = 2, worker_max_count = 6, triggerer_count = 2 }
  }
}

# One LLMOps Factory environment: every module wired together, reading the code's own files (warehouse
# schemas, metrics, Composer requirements) so that what Terraform creates is what the code writes.

locals {
  # The repository's files Terraform builds from (paths relative to this module).
  repo_root         = "${path.module}/../../.."
  schemas_dir       = "${local.repo_root}/include/llmops_factory/warehouse/schemas"
  tables_file       = "${local.repo_root}/include/llmops_factory/warehouse/tables.yaml"
  metrics_file      = "${local.repo_root}/include/llmops_factory/observability/metrics.yaml"
  requirements_file = "${local.repo_root}/requirements.txt"

  # The table Vertex AI request-response logging creates and writes (same shape as its schema file).
  prediction_log_table = "prediction_log"

  name_prefix = "llmops-${var.environment}"
  labels      = merge(var.labels, { app = "llmops-factory", environment = var.environment })
  dataset_id  = "llmops_${var.environment}"

  trainer_image = "${module.artifact_registry.repository_url}/trainer:${var.trainer_image_tag}"
  sa            = module.service_accounts.emails

  # The settings of the gcp target (include/llmops_factory/settings.py), as Composer environment
  # variables: LLMOPS_ + the dotted setting upper-cased with "." -> "__".
  settings_env = merge(
    {
      LLMOPS_TARGET                           = "gcp"
      LLMOPS_ENVIRONMENT                      = var.environment
      LLMOPS_USE_CASE                         = var.use_case
      LLMOPS_GCP__PROJECT_ID                  = var.project_id
      LLMOPS_GCP__REGION                      = var.region
      LLMOPS_GCP__BUCKET                      = module.storage.bucket_names["data"]
      LLMOPS_GCP__STAGING_BUCKET              = module.storage.bucket_names["staging"]
      LLMOPS_GCP__BIGQUERY_DATASET            = module.bigquery.dataset_id
      LLMOPS_GCP__BIGQUERY_LOCATION           = var.bigquery_location
      LLMOPS_GCP__SERVICE_ACCOUNT             = local.sa["dataflow"]
      LLMOPS_GCP__ENDPOINT_ID                 = module.vertex_endpoint.endpoint_id
      LLMOPS_GCP__SERVING_CONTAINER_URI       = local.trainer_image
      LLMOPS_GCP__DATAFLOW__SERVICE_ACCOUNT   = local.sa["dataflow"]
      LLMOPS_GCP__DATAFLOW__MACHINE_TYPE      = var.dataflow_machine_type
      LLMOPS_GCP__DATAFLOW__MAX_WORKERS       = tostring(var.dataflow_max_workers)
      LLMOPS_GCP__TRAINING__SERVICE_ACCOUNT   = local.sa["training"]
      LLMOPS_GCP__TRAINING__CONTAINER_URI     = local.trainer_image
      LLMOPS_GCP__TRAINING__MACHINE_TYPE      = var.training_machine_type
      LLMOPS_GCP__TRAINING__ACCELERATOR_TYPE  = var.training_accelerator_type
      LLMOPS_GCP__TRAINING__ACCELERATOR_COUNT = tostring(var.training_accelerator_count)
      LLMOPS_GCP__SERVING__SERVICE_ACCOUNT    = local.sa["serving"]
      LLMOPS_GCP__SERVING__MACHINE_TYPE       = var.serving_machine_type
      LLMOPS_GCP__SERVING__ACCELERATOR_TYPE   = var.serving_accelerator_type
      LLMOPS_GCP__SERVING__MIN_REPLICA_COUNT  = tostring(var.serving_replicas.min)
      LLMOPS_GCP__SERVING__MAX_REPLICA_COUNT  = tostring(var.serving_replicas.max)
      LLMOPS_DEPLOY__CANARY_PERCENT           = tostring(var.canary_traffic_percent)
      LLMOPS_ALERT_EMAIL                      = var.alert_emails[0]
      # Vertex AI Model Monitoring of the prompt features alerts the same channels as the alert policies
      LLMOPS_GCP__MODEL_MONITORING__NOTIFICATION_CHANNELS = jsonencode(module.monitoring.notification_channels)
    },
    var.serving_accelerator_type == "NONE" ? { LLMOPS_GCP__SERVING__ACCELERATOR_COUNT = "0" } : {},
  )
}

data "google_project" "main" {
  project_id = var.project_id
}

module "storage" {
  source = "../storage"

  project_id   = var.project_id
  location     = var.region
  name_prefix  = "${var.project_id}-${local.name_prefix}"
  kms_key_name = var.kms_key_name
  labels       = local.labels
  buckets = {
    data = {
      purpose             = "Prompt bundles, raw data, datasets, models, evaluation and reports (the storage layout)."
      nearline_after_days = var.data_nearline_after_days
    }
    staging = {
      purpose                   = "Dataflow temp/staging and Vertex AI staging: scratch space."
      delete_objects_after_days = var.staging_retention_days
      noncurrent_versions_kept  = 1
      noncurrent_retention_days = 1
      force_destroy             = true
    }
  }

  depends_on = [google_project_service.main]
}

module "bigquery" {
  source = "../bigquery"

  project_id                = var.project_id
  dataset_id                = local.dataset_id
  location                  = var.bigquery_location
  schemas_dir               = local.schemas_dir
  tables_file               = local.tables_file
  externally_created_tables = [local.prediction_log_table]
  deletion_protection       = var.deletion_protection
  kms_key_name              = var.kms_key_name
  labels                    = local.labels
  iam_members               = local.dataset_grants

  depends_on = [google_project_service.main]
}

module "artifact_registry" {
  source = "../artifact_registry"

  project_id    = var.project_id
  location      = var.region
  repository_id = local.name_prefix
  kms_key_name  = var.kms_key_name
  labels        = local.labels
  readers = {
    dataflow = "serviceAccount:${local.sa["dataflow"]}"
    training = "serviceAccount:${local.sa["training"]}"
    serving  = "serviceAccount:${local.sa["serving"]}"
  }
  writers = var.image_pushers

  depends_on = [google_project_service.main]
}

module "vertex_endpoint" {
  source = "../vertex_endpoint"

  project_id            = var.project_id
  region                = var.region
  endpoint_id           = var.endpoint_id
  display_name          = "${local.name_prefix}-${var.use_case}"
  logging_sampling_rate = var.prediction_logging_sampling_rate
  kms_key_name          = var.kms_key_name
  labels                = local.labels
  log_table = {
    project = var.project_id
    dataset = module.bigquery.dataset_id
    table   = local.prediction_log_table
  }

  # Vertex AI's service agent must be able to create and write the log table first.
  depends_on = [module.bigquery]
}

module "composer" {
  source = "../composer"

  project_id        = var.project_id
  region            = var.region
  name              = local.name_prefix
  image_version     = var.composer.image_version
  environment_size  = var.composer.environment_size
  resilience_mode   = var.composer.resilience_mode
  workloads         = var.composer.workloads
  requirements_file = local.requirements_file
  env_variables     = local.settings_env
  service_account   = local.sa["composer"]
  kms_key_name      = var.kms_key_name
  labels            = local.labels

  depends_on = [google_project_iam_member.composer_agent, module.service_accounts]
}

module "monitoring" {
  source = "../monitoring"

  project_id          = var.project_id
  environment         = var.environment
  metrics_file        = local.metrics_file
  alert_thresholds    = var.alert_thresholds
  notification_emails = var.alert_emails
  budget              = var.budget
  labels              = local.labels

  depends_on = [google_project_service.main]
}

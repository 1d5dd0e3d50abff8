# Identities and least-privilege grants. Project-level roles only where a service has no narrower
# resource; everything else is granted on the bucket, dataset, repository or service account itself.
#
#   composer  runs the DAGs: launches Dataflow and Vertex AI jobs, loads and queries BigQuery, writes
#             custom metrics, reads and writes the buckets, acts as the job identities below.
#   dataflow  Dataflow workers of data preparation: read raw data, write datasets and dead letters.
#   training  Vertex AI training: read datasets and prompts, write models, checkpoints, experiments.
#   serving   Vertex AI endpoint replicas: read prompt bundles and model artifacts, write logs.

module "service_accounts" {
  source = "../service_accounts"

  project_id  = var.project_id
  name_prefix = local.name_prefix
  accounts = {
    composer = {
      display_name = "LLMOps ${var.environment} Composer"
      description  = "Cloud Composer environment: runs the DAGs and launches the jobs."
      project_roles = [
        "roles/composer.worker",
        "roles/dataflow.developer",
        "roles/aiplatform.user",
        "roles/bigquery.jobUser",
        "roles/monitoring.metricWriter",
      ]
    }
    dataflow = {
      display_name  = "LLMOps ${var.environment} Dataflow workers"
      description   = "Dataflow workers of the data preparation pipeline."
      project_roles = ["roles/dataflow.worker", "roles/logging.logWriter", "roles/monitoring.metricWriter"]
    }
    training = {
      display_name  = "LLMOps ${var.environment} Vertex AI training"
      description   = "Vertex AI custom training jobs (LoRA fine-tuning, batch generation)."
      project_roles = ["roles/aiplatform.user", "roles/logging.logWriter", "roles/monitoring.metricWriter"]
    }
    serving = {
      display_name  = "LLMOps ${var.environment} Vertex AI serving"
      description   = "Models deployed to the Vertex AI endpoint."
      project_roles = ["roles/logging.logWriter", "roles/monitoring.metricWriter"]
    }
  }

  depends_on = [google_project_service.main]
}

locals {
  bucket_grants = {
    "data composer"    = { bucket = "data", role = "roles/storage.objectAdmin", member = "serviceAccount:${local.sa["composer"]}" }
    "data dataflow"    = { bucket = "data", role = "roles/storage.objectAdmin", member = "serviceAccount:${local.sa["dataflow"]}" }
    "data training"    = { bucket = "data", role = "roles/storage.objectAdmin", member = "serviceAccount:${local.sa["training"]}" }
    "data serving"     = { bucket = "data", role = "roles/storage.objectViewer", member = "serviceAccount:${local.sa["serving"]}" }
    "staging composer" = { bucket = "staging", role = "roles/storage.objectAdmin", member = "serviceAccount:${local.sa["composer"]}" }
    "staging dataflow" = { bucket = "staging", role = "roles/storage.objectAdmin", member = "serviceAccount:${local.sa["dataflow"]}" }
    "staging training" = { bucket = "staging", role = "roles/storage.objectAdmin", member = "serviceAccount:${local.sa["training"]}" }
  }

  dataset_grants = {
    composer = { role = "roles/bigquery.dataEditor", member = "serviceAccount:${local.sa["composer"]}" }
    # Vertex AI request-response logging creates and writes the prediction_log table.
    vertex_logging = { role = "roles/bigquery.dataEditor", member = "serviceAccount:service-${data.google_project.main.number}@gcp-sa-aiplatform.iam.gserviceaccount.com" }
  }

  # Composer launches jobs that run as these identities.
  act_as = { for key in ["dataflow", "training", "serving"] : key => module.service_accounts.names[key] }
}

resource "google_storage_bucket_iam_member" "main" {
  for_each = local.bucket_grants

  bucket = module.storage.bucket_names[each.value.bucket]
  role   = each.value.role
  member = each.value.member
}

resource "google_service_account_iam_member" "composer_acts_as" {
  for_each = local.act_as

  service_account_id = each.value
  role               = "roles/iam.serviceAccountUser"
  member             = "serviceAccount:${local.sa["composer"]}"
}

# Composer 3 needs its service agent to manage the environment's identity.
resource "google_project_iam_member" "composer_agent" {
  project = var.project_id
  role    = "roles/composer.ServiceAgentV2Ext"
  member  = "serviceAccount:service-${data.google_project.main.number}@cloudcomposer-accounts.iam.gserviceaccount.com"

  depends_on = [google_project_service.main]
}

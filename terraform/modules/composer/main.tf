# Cloud Composer 3 (Airflow 3) environment: PyPI packages from the repository's requirements.txt, the
# LLMOPS_* settings of the gcp target as environment variables, its own service account.

locals {
  requirement_lines = [
    for line in split("\n", file(var.requirements_file)) : trimspace(line)
    if trimspace(line) != "" && !startswith(trimspace(line), "#")
  ]
  # "apache-beam[gcp]==2.77.0" -> "apache-beam" = "[gcp]==2.77.0" (Composer's name => extras+specifier).
  pypi_packages = {
    for line in local.requirement_lines :
    lower(regex("^([A-Za-z0-9][A-Za-z0-9._-]*)(.*)$", line)[0]) => regex("^([A-Za-z0-9][A-Za-z0-9._-]*)(.*)$", line)[1]
  }
}

resource "google_composer_environment" "main" {
  project = var.project_id
  region  = var.region
  name    = var.name
  labels  = var.labels

  config {
    environment_size = var.environment_size
    resilience_mode  = var.resilience_mode

    software_config {
      image_version            = var.image_version
      pypi_packages            = local.pypi_packages
      env_variables            = var.env_variables
      airflow_config_overrides = var.airflow_config_overrides
    }

    node_config {
      service_account = var.service_account
    }

    workloads_config {
      scheduler {
        cpu        = var.workloads.scheduler_cpu
        memory_gb  = var.workloads.scheduler_memory_gb
        storage_gb = 1
        count      = var.workloads.scheduler_count
      }
      web_server {
        cpu        = 1
        memory_gb  = 2
        storage_gb = 1
      }
      worker {
        cpu        = var.workloads.worker_cpu
        memory_gb  = var.workloads.worker_memory_gb
        storage_gb = 5
        min_count  = var.workloads.worker_min_count
        max_count  = var.workloads.worker_max_count
      }
      triggerer {
        cpu       = var.workloads.triggerer_cpu
        memory_gb = var.workloads.triggerer_memory_gb
        count     = var.workloads.triggerer_count
      }
    }

    dynamic "encryption_config" {
      for_each = var.kms_key_name == null ? [] : [var.kms_key_name]
      content {
        kms_key_name = encryption_config.value
      }
    }
  }

  lifecycle {
    precondition {
      condition     = alltrue([for line in local.requirement_lines : can(regex("^[A-Za-z0-9][A-Za-z0-9._-]*(\\[[A-Za-z0-9,._-]+\\])?==[A-Za-z0-9.+!-]+$", line))])
      error_message = "Every line of ${var.requirements_file} must pin one package as name[extras]==version."
    }
  }
}

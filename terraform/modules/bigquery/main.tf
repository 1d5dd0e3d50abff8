# The warehouse dataset and every table of the code's tables.yaml, each built from the code's own JSON
# schema file: the DuckDB tables of the local target and the BigQuery code path read the same files.

locals {
  table_specs = yamldecode(file(var.tables_file))
  tables      = { for name, spec in local.table_specs : name => spec if !contains(var.externally_created_tables, name) }
}

resource "google_bigquery_dataset" "main" {
  project                    = var.project_id
  dataset_id                 = var.dataset_id
  location                   = var.location
  description                = "LLMOps Factory warehouse: instruction data, evaluation, review, prediction log, monitoring, deployment events."
  delete_contents_on_destroy = false
  labels                     = var.labels

  dynamic "default_encryption_configuration" {
    for_each = var.kms_key_name == null ? [] : [var.kms_key_name]
    content {
      kms_key_name = default_encryption_configuration.value
    }
  }
}

resource "google_bigquery_table" "main" {
  for_each = local.tables

  project             = var.project_id
  dataset_id          = google_bigquery_dataset.main.dataset_id
  table_id            = each.key
  description         = each.value.description
  schema              = file("${var.schemas_dir}/${each.key}.json")
  clustering          = each.value.clustering
  deletion_protection = var.deletion_protection
  labels              = var.labels

  time_partitioning {
    type  = each.value.time_partitioning.type
    field = each.value.time_partitioning.field
  }

  dynamic "encryption_configuration" {
    for_each = var.kms_key_name == null ? [] : [var.kms_key_name]
    content {
      kms_key_name = encryption_configuration.value
    }
  }

  lifecycle {
    precondition {
      condition     = fileexists("${var.schemas_dir}/${each.key}.json")
      error_message = "Table ${each.key} of ${var.tables_file} has no schema file ${var.schemas_dir}/${each.key}.json."
    }
  }
}

resource "google_bigquery_dataset_iam_member" "main" {
  for_each = var.iam_members

  project    = var.project_id
  dataset_id = google_bigquery_dataset.main.dataset_id
  role       = each.value.role
  member     = each.value.member
}

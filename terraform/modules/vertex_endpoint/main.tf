# The Vertex AI endpoint and its request-response logging. Its deployed models and traffic split belong
# to the deploy and monitoring DAGs (canary, promote, rollback), so Terraform ignores them.

resource "google_vertex_ai_endpoint" "main" {
  #checkov:skip=CKV2_GCP_33:Public endpoint by design: callers reach it through the Vertex AI API with IAM (aiplatform.endpoints.predict), never unauthenticated; a private endpoint needs a peered VPC this platform does not own.
  project      = var.project_id
  location     = var.region
  region       = var.region
  name         = var.endpoint_id
  display_name = var.display_name
  description  = "LLMOps Factory serving endpoint: champion and challenger with the DAG-managed traffic split."
  labels       = var.labels

  predict_request_response_logging_config {
    enabled       = true
    sampling_rate = var.logging_sampling_rate

    bigquery_destination {
      output_uri = "bq://${var.log_table.project}.${var.log_table.dataset}.${var.log_table.table}"
    }
  }

  dynamic "encryption_spec" {
    for_each = var.kms_key_name == null ? [] : [var.kms_key_name]
    content {
      kms_key_name = encryption_spec.value
    }
  }

  lifecycle {
    ignore_changes = [traffic_split]
  }
}

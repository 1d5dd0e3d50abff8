output "endpoint_id" {
  description = "Numeric endpoint id (the gcp.endpoint_id setting)."
  value       = google_vertex_ai_endpoint.main.name
}

output "endpoint_resource_name" {
  description = "Full resource name projects/<project>/locations/<region>/endpoints/<id>."
  value       = "projects/${var.project_id}/locations/${var.region}/endpoints/${google_vertex_ai_endpoint.main.name}"
}

output "log_table" {
  description = "BigQuery URI of the request-response log."
  value       = google_vertex_ai_endpoint.main.predict_request_response_logging_config[0].bigquery_destination[0].output_uri
}

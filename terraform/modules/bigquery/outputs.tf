output "dataset_id" {
  description = "Dataset id of the warehouse."
  value       = google_bigquery_dataset.main.dataset_id
}

output "table_ids" {
  description = "Table ids created here (tables created by other services are not listed)."
  value       = sort([for table in google_bigquery_table.main : table.table_id])
}

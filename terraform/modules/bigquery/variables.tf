variable "project_id" {
  type        = string
  description = "Project that owns the dataset."
}

variable "dataset_id" {
  type        = string
  description = "Dataset of the warehouse tables (the gcp.bigquery_dataset setting)."

  validation {
    condition     = can(regex("^[A-Za-z_][A-Za-z0-9_]{0,1023}$", var.dataset_id))
    error_message = "dataset_id must be letters, digits and underscores, not starting with a digit."
  }
}

variable "location" {
  type        = string
  description = "Dataset location (the gcp.bigquery_location setting), e.g. EU or europe-west4."
}

variable "schemas_dir" {
  type        = string
  description = "Folder of the BigQuery JSON schema files, one <table>.json per table (the code's warehouse/schemas)."
}

variable "tables_file" {
  type        = string
  description = "The code's warehouse tables.yaml: description, time partitioning and clustering of every table."
}

variable "externally_created_tables" {
  type        = list(string)
  description = "Tables of tables_file that another service creates (Vertex AI request-response logging creates its own table); not created here."
  default     = []
}

variable "deletion_protection" {
  type        = bool
  description = "Refuse to destroy tables that hold data."
  default     = true
}

variable "kms_key_name" {
  type        = string
  description = "Cloud KMS key for the dataset's and tables' default encryption; null keeps Google-managed keys."
  default     = null
}

variable "iam_members" {
  type = map(object({
    role   = string
    member = string
  }))
  description = "Dataset-level grants by a stable key (who may read or write the warehouse)."
  default     = {}
}

variable "labels" {
  type        = map(string)
  description = "Labels put on the dataset and its tables."
  default     = {}
}

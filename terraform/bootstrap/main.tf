# The remote-state bucket of terraform/envs/*: versioned (every state can be restored), uniform access,
# never public, with old state versions pruned.

provider "google" {
  project = var.project_id
}

resource "google_storage_bucket" "tfstate" {
  #checkov:skip=CKV_GCP_62:Access to the state bucket is audited by Cloud Audit Logs (data access); a separate access-log bucket would need its own state.
  name                        = "${var.project_id}-tfstate"
  project                     = var.project_id
  location                    = var.location
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = false

  versioning {
    enabled = true
  }

  dynamic "encryption" {
    for_each = var.kms_key_name == null ? [] : [var.kms_key_name]
    content {
      default_kms_key_name = encryption.value
    }
  }

  lifecycle_rule {
    condition {
      num_newer_versions = 20
      with_state         = "ARCHIVED"
    }
    action {
      type = "Delete"
    }
  }

  lifecycle {
    prevent_destroy = true
  }
}

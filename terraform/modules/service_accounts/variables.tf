variable "project_id" {
  type        = string
  description = "Project that owns the service accounts."
}

variable "name_prefix" {
  type        = string
  description = "Prefix of account ids (account id = <prefix>-<key>, at most 30 characters)."
}

variable "accounts" {
  type = map(object({
    display_name  = string
    description   = string
    project_roles = list(string)
  }))
  description = "Service accounts by key, each with the project-level roles it needs (resource-level grants are made where the resource is)."

  validation {
    condition = alltrue(flatten([
      for key, account in var.accounts : [
        for role in account.project_roles : !contains(["roles/owner", "roles/editor", "roles/viewer", "roles/iam.serviceAccountUser", "roles/iam.serviceAccountTokenCreator"], role)
      ]
    ]))
    error_message = "accounts project_roles must not hold basic roles or service-account impersonation roles at project level; grant those on the resource."
  }
}

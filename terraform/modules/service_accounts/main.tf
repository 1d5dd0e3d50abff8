# One identity per workload, each with only the project roles its workload needs.

locals {
  grants = merge([
    for key, account in var.accounts : {
      for role in account.project_roles : "${key} ${role}" => { account = key, role = role }
    }
  ]...)
}

resource "google_service_account" "main" {
  for_each = var.accounts

  project      = var.project_id
  account_id   = "${var.name_prefix}-${each.key}"
  display_name = each.value.display_name
  description  = each.value.description
}

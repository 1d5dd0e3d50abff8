resource "google_project_iam_member" "main" {
  for_each = local.grants

  project = var.project_id
  role    = each.value.role
  member  = "serviceAccount:${google_service_account.main[each.value.account].email}"
}

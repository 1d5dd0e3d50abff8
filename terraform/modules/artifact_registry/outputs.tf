output "repository_url" {
  description = "Docker URL prefix of the repository (<location>-docker.pkg.dev/<project>/<repository>)."
  value       = "${var.location}-docker.pkg.dev/${var.project_id}/${google_artifact_registry_repository.main.repository_id}"
}

output "repository_id" {
  description = "Repository id."
  value       = google_artifact_registry_repository.main.repository_id
}

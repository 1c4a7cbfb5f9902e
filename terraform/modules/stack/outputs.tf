output "artifacts_bucket" {
  description = "Artifacts bucket: upload models/vN/model.tar.gz, pipelines/*.json and exports/user_demographics/ here."
  value       = module.buckets.bucket_names["artifacts"]
}

output "scored_events_bucket" {
  description = "Bucket of scored events (Athena)."
  value       = module.buckets.bucket_names["scored_events"]
}

output "checkpoints_bucket" {
  description = "Bucket of pipeline host checkpoints."
  value       = module.buckets.bucket_names["checkpoints"]
}

output "lease_table_name" {
  description = "Checkpoint/lease table of the pipeline host (goes into the spec)."
  value       = module.lease_table.table_name
}

output "user_demographics_stream_arn" {
  description = "Stream of user_demographics (goes into the spec)."
  value       = module.user_demographics.stream_arn
}

output "scoring_endpoint_name" {
  description = "SageMaker endpoint name (goes into the spec)."
  value       = module.scoring.endpoint_name
}

output "alerts_topic_arn" {
  description = "Fraud alerts topic (goes into the spec)."
  value       = module.alerts_topic.topic_arn
}

output "slack_secret_arn" {
  description = "Secret to put the Slack credentials into."
  value       = module.secrets.secret_arns["slack"]
}

output "pipeline_cluster_name" {
  description = "ECS cluster of the pipeline host."
  value       = module.pipeline.cluster_name
}

output "pipeline_service_name" {
  description = "ECS service of the pipeline host."
  value       = module.pipeline.service_name
}

output "pipeline_security_group_id" {
  description = "Security group of the pipeline tasks (HTTPS egress to the VPC endpoints only)."
  value       = module.pipeline.security_group_id
}

output "vpc_endpoints_security_group_id" {
  description = "Security group of the interface VPC endpoints (HTTPS in from the pipeline tasks only)."
  value       = module.endpoints.security_group_id
}

output "slack_formatter_signing_profile_arn" {
  description = "AWS Signer profile whose signatures the Slack formatter's code signing configuration accepts."
  value       = module.slack_formatter.signing_profile_arn
}

output "dashboard_name" {
  description = "CloudWatch dashboard."
  value       = module.cloudwatch.dashboard_name
}

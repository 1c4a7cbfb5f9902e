output "artifacts_bucket" {
  description = "Artifacts bucket: upload models/vN/model.tar.gz, pipelines/*.json and exports/user_demographics/ here."
  value       = module.stack.artifacts_bucket
}

output "scored_events_bucket" {
  description = "Bucket of scored events (Athena)."
  value       = module.stack.scored_events_bucket
}

output "checkpoints_bucket" {
  description = "Bucket of pipeline host checkpoints."
  value       = module.stack.checkpoints_bucket
}

output "lease_table_name" {
  description = "Checkpoint/lease table of the pipeline host (goes into the spec)."
  value       = module.stack.lease_table_name
}

output "user_demographics_stream_arn" {
  description = "Stream of user_demographics (goes into the spec)."
  value       = module.stack.user_demographics_stream_arn
}

output "scoring_endpoint_name" {
  description = "SageMaker endpoint name (goes into the spec)."
  value       = module.stack.scoring_endpoint_name
}

output "alerts_topic_arn" {
  description = "Fraud alerts topic (goes into the spec)."
  value       = module.stack.alerts_topic_arn
}

output "slack_secret_arn" {
  description = "Secret to put the Slack credentials into."
  value       = module.stack.slack_secret_arn
}

output "pipeline_cluster_name" {
  description = "ECS cluster of the pipeline host."
  value       = module.stack.pipeline_cluster_name
}

output "pipeline_service_name" {
  description = "ECS service of the pipeline host."
  value       = module.stack.pipeline_service_name
}

output "pipeline_security_group_id" {
  description = "Security group of the pipeline tasks (HTTPS egress to the VPC endpoints only)."
  value       = module.stack.pipeline_security_group_id
}

output "vpc_endpoints_security_group_id" {
  description = "Security group of the interface VPC endpoints (HTTPS in from the pipeline tasks only)."
  value       = module.stack.vpc_endpoints_security_group_id
}

output "slack_formatter_signing_profile_arn" {
  description = "AWS Signer profile whose signatures the Slack formatter's code signing configuration accepts."
  value       = module.stack.slack_formatter_signing_profile_arn
}

output "dashboard_name" {
  description = "CloudWatch dashboard."
  value       = module.stack.dashboard_name
}

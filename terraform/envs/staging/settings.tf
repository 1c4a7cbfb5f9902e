# Staging: small and cheap, same topology as prod.
locals {
  environment = "staging"

  pipeline_cpu       = 1024
  pipeline_memory    = 2048
  pipeline_min_tasks = 1
  pipeline_max_tasks = 2

  sagemaker_instance_type         = "ml.m5.large"
  sagemaker_min_instances         = 1
  sagemaker_max_instances         = 2
  invocations_per_instance_target = 3000

  slack_reserved_concurrency = 2

  iterator_age_scale_out_ms = 60000
  iterator_age_alarm_ms     = 300000
  scorer_error_threshold    = 50

  log_retention_in_days         = 365
  scored_events_expiration_days = 180
}

# Production: sized for the live transaction rate, tighter alarm thresholds.
locals {
  environment = "prod"

  pipeline_cpu       = 2048
  pipeline_memory    = 4096
  pipeline_min_tasks = 2
  pipeline_max_tasks = 8

  sagemaker_instance_type         = "ml.c5.xlarge"
  sagemaker_min_instances         = 2
  sagemaker_max_instances         = 6
  invocations_per_instance_target = 3000

  slack_reserved_concurrency = 5

  iterator_age_scale_out_ms = 30000
  iterator_age_alarm_ms     = 120000
  scorer_error_threshold    = 10

  log_retention_in_days         = 365
  scored_events_expiration_days = 730
}

# Staging: small and cheap, same topology as prod.
# Everything else is in modules/stack, shared by every environment; account-specific values come from
# terraform.tfvars (see variables.tf and terraform.tfvars.example).

module "stack" {
  source = "../../modules/stack"

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

  transactions_stream_name  = var.transactions_stream_name
  pipeline_name             = var.pipeline_name
  pipeline_spec_key         = var.pipeline_spec_key
  vpc_id                    = var.vpc_id
  private_subnet_ids        = var.private_subnet_ids
  private_route_table_ids   = var.private_route_table_ids
  admin_ingress_cidr_blocks = var.admin_ingress_cidr_blocks
  pipeline_image_uri        = var.pipeline_image_uri
  spec_fetch_image_uri      = var.spec_fetch_image_uri
  model_server_image_uri    = var.model_server_image_uri
  ecr_repository_arns       = var.ecr_repository_arns
  model_variants            = var.model_variants
  slack_formatter_zip_path  = var.slack_formatter_zip_path
  alarm_emails              = var.alarm_emails
}

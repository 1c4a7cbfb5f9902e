# The whole fraud-scoring deployment of one environment: every component module wired together. The
# environment roots (terraform/envs/<env>) only configure the backend and the provider and call this module
# with their sizes, thresholds and account-specific values, so the environments cannot drift apart in shape.

terraform {
  required_version = ">= 1.9.0"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.100.0, < 6.0.0"
    }
  }
}

locals {
  name_prefix = "fraud-${var.environment}"

  pipeline_service_name = "${local.name_prefix}-pipeline"
  slack_function_name   = "${local.name_prefix}-slack-formatter"
  log_groups = {
    pipeline        = "/ecs/${local.pipeline_service_name}"
    slack_formatter = "/aws/lambda/${local.slack_function_name}"
  }
}

# ------------------------------------------------------------------------------------------ data stores

module "transactions" {
  source      = "../kinesis_stream_ref"
  stream_name = var.transactions_stream_name
}

module "buckets" {
  source                        = "../s3_buckets"
  name_prefix                   = local.name_prefix
  scored_events_expiration_days = var.scored_events_expiration_days
}

module "user_demographics" {
  source           = "../dynamodb_table"
  name             = "user_demographics"
  hash_key         = "user_id"
  stream_view_type = "NEW_AND_OLD_IMAGES"
}

module "lease_table" {
  source   = "../dynamodb_table"
  name     = "${local.pipeline_service_name}-leases"
  hash_key = "leaseKey"
}

module "secrets" {
  source      = "../secrets_manager"
  name_prefix = local.name_prefix
  secrets = {
    slack = "Slack credentials as JSON: {\"webhook_url\": \"https://hooks.slack.com/services/...\"} (webhook mode, the default) or {\"token\": \"xoxb-...\"} (SLACK_MODE=chat_post_message)"
  }
}

# ---------------------------------------------------------------------------------------------- topics

module "alerts_topic" {
  source = "../sns_topic"
  name   = "${local.name_prefix}-alerts"
}

module "ops_alarms_topic" {
  source                  = "../sns_topic"
  name                    = "${local.name_prefix}-ops-alarms"
  display_name            = "Fraud pipeline ${var.environment} alarms"
  allow_cloudwatch_alarms = true
  email_subscriptions     = var.alarm_emails
}

# ----------------------------------------------------------------------------------------- observability

module "cloudwatch" {
  source                    = "../cloudwatch"
  name_prefix               = local.name_prefix
  log_groups                = local.log_groups
  log_retention_in_days     = var.log_retention_in_days
  alarm_topic_arn           = module.ops_alarms_topic.topic_arn
  pipeline_name             = var.pipeline_name
  kinesis_stream_name       = module.transactions.stream_name
  iterator_age_threshold_ms = var.iterator_age_alarm_ms
  scorer_error_threshold    = var.scorer_error_threshold
  lambda_function_name      = local.slack_function_name
  lambda_dlq_name           = module.slack_formatter.dlq_name
  ecs_service = {
    cluster_name = module.pipeline.cluster_name
    service_name = module.pipeline.service_name
  }
  sagemaker_endpoint_name = module.scoring.endpoint_name
}

# ---------------------------------------------------------------------------------------------- network

# The tasks reach AWS only through these endpoints: their security group allows HTTPS to the interface
# endpoints' group and to the S3/DynamoDB gateway prefix lists, and nothing else (no 0.0.0.0/0).
module "endpoints" {
  source                    = "../vpc_endpoints"
  name_prefix               = local.name_prefix
  vpc_id                    = var.vpc_id
  subnet_ids                = var.private_subnet_ids
  route_table_ids           = var.private_route_table_ids
  client_security_group_ids = { pipeline_tasks = module.pipeline.security_group_id }
}

# -------------------------------------------------------------------------------------------- compute

module "scoring" {
  source                          = "../sagemaker_rt_endpoint"
  name                            = "${local.name_prefix}-scoring"
  artifacts_kms_key_arn           = module.buckets.kms_key_arn
  ecr_repository_arns             = var.ecr_repository_arns
  invocations_per_instance_target = var.invocations_per_instance_target
  variants = [
    for name, v in var.model_variants : {
      name                   = name
      image_uri              = var.model_server_image_uri
      model_data_url         = "s3://${module.buckets.bucket_names["artifacts"]}/models/${v.version}/model.tar.gz"
      instance_type          = var.sagemaker_instance_type
      initial_instance_count = var.sagemaker_min_instances
      weight                 = v.weight
      min_capacity           = var.sagemaker_min_instances
      max_capacity           = var.sagemaker_max_instances
    }
  ]
}

module "pipeline" {
  source                      = "../pipeline_service"
  name                        = local.pipeline_service_name
  image_uri                   = var.pipeline_image_uri
  spec_fetch_image            = var.spec_fetch_image_uri
  spec_s3_uri                 = "s3://${module.buckets.bucket_names["artifacts"]}/${var.pipeline_spec_key}"
  cpu                         = var.pipeline_cpu
  memory                      = var.pipeline_memory
  min_capacity                = var.pipeline_min_tasks
  max_capacity                = max(var.pipeline_min_tasks, min(var.pipeline_max_tasks, module.transactions.open_shard_count))
  iterator_age_target_ms      = var.iterator_age_scale_out_ms
  vpc_id                      = var.vpc_id
  subnet_ids                  = var.private_subnet_ids
  admin_ingress_cidr_blocks   = var.admin_ingress_cidr_blocks
  egress_security_group_ids   = { vpc_endpoints = module.endpoints.security_group_id }
  egress_prefix_list_ids      = { for k in ["s3", "dynamodb"] : k => module.endpoints.gateway_prefix_list_ids[k] }
  network_dependencies        = concat(values(module.endpoints.interface_endpoint_ids), values(module.endpoints.gateway_prefix_list_ids))
  ecr_repository_arns         = var.ecr_repository_arns
  log_group_name              = module.cloudwatch.log_group_names["pipeline"]
  log_group_arn               = module.cloudwatch.log_group_arns["pipeline"]
  kinesis_stream_name         = module.transactions.stream_name
  kinesis_stream_arn          = module.transactions.stream_arn
  kinesis_kms_key_arn         = module.transactions.kms_key_arn
  lease_table_arn             = module.lease_table.table_arn
  lease_table_kms_key_arn     = module.lease_table.kms_key_arn
  reference_table_arn         = module.user_demographics.table_arn
  reference_table_kms_key_arn = module.user_demographics.kms_key_arn
  sagemaker_endpoint_arn      = module.scoring.endpoint_arn
  alerts_topic_arn            = module.alerts_topic.topic_arn
  alerts_topic_kms_key_arn    = module.alerts_topic.kms_key_arn
  artifacts_bucket_arn        = module.buckets.bucket_arns["artifacts"]
  checkpoints_bucket_arn      = module.buckets.bucket_arns["checkpoints"]
  scored_events_bucket_arn    = module.buckets.bucket_arns["scored_events"]
  s3_kms_key_arn              = module.buckets.kms_key_arn
  # What pipelines/production.json reads through ${VAR}: every AWS name comes from this composition.
  environment = {
    PIPELINE_ENVIRONMENT = var.environment
    PIPELINE_NAME        = var.pipeline_name
    TRANSACTIONS_STREAM  = module.transactions.stream_name
    USER_TABLE           = module.user_demographics.table_name
    SAGEMAKER_ENDPOINT   = module.scoring.endpoint_name
    SCORED_BUCKET        = module.buckets.bucket_names["scored_events"]
    ALERTS_TOPIC_ARN     = module.alerts_topic.topic_arn
    LEASE_TABLE          = module.lease_table.table_name
    LEASE_STATE_BUCKET   = module.buckets.bucket_names["checkpoints"]
    LEASE_STATE_PREFIX   = "${local.pipeline_service_name}/lease-state/"
    # The root filesystem is read-only and the host runs as a non-root user: local checkpoints go to the
    # task's scratch volume (ephemeral, like the rest of a Fargate task's disk).
    CHECKPOINT_DIR = "/tmp/checkpoint"
    # The DynamoDB Streams interface endpoint has no private DNS: point the host at the endpoint's own name.
    AWS_ENDPOINT_URL_DYNAMODB_STREAMS = "https://${module.endpoints.interface_endpoint_dns_names["dynamodb-streams"]}"
  }
}

module "slack_formatter" {
  source                   = "../lambda_function"
  function_name            = local.slack_function_name
  zip_path                 = var.slack_formatter_zip_path
  artifacts_bucket_name    = module.buckets.bucket_names["artifacts"]
  artifacts_kms_key_arn    = module.buckets.kms_key_arn
  reserved_concurrency     = var.slack_reserved_concurrency
  alerts_topic_arn         = module.alerts_topic.topic_arn
  slack_secret_arn         = module.secrets.secret_arns["slack"]
  slack_secret_kms_key_arn = module.secrets.kms_key_arn
  log_group_name           = module.cloudwatch.log_group_names["slack_formatter"]
  log_group_arn            = module.cloudwatch.log_group_arns["slack_formatter"]
}

# --------------------------------------------------------------------------------- reference data ETL

module "user_demographics_refresh" {
  source                = "../glue_job"
  job_name              = "${local.name_prefix}-user-demographics-refresh"
  script_path           = "${path.module}/../../../glue/user_demographics_refresh.py"
  artifacts_bucket_name = module.buckets.bucket_names["artifacts"]
  artifacts_kms_key_arn = module.buckets.kms_key_arn
  source_s3_uri         = "s3://${module.buckets.bucket_names["artifacts"]}/exports/user_demographics/"
  table_name            = module.user_demographics.table_name
  table_arn             = module.user_demographics.table_arn
  table_kms_key_arn     = module.user_demographics.kms_key_arn
  logs_kms_key_arn      = module.cloudwatch.logs_kms_key_arn
}

module "user_demographics_schedule" {
  source              = "../eventbridge"
  name                = "${local.name_prefix}-user-demographics"
  glue_job_name       = module.user_demographics_refresh.job_name
  glue_job_arn        = module.user_demographics_refresh.job_arn
  schedule_expression = "cron(5 * * * ? *)"
}

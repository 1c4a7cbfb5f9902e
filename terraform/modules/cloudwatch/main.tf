# Observability of the deployment: encrypted log groups for the pipeline host and the Slack formatter, the
# alarms the on-call needs, and one dashboard.

terraform {
  required_version = ">= 1.9.0"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.100.0, < 6.0.0"
    }
  }
}

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  region        = data.aws_region.current.name
  alarm_actions = [var.alarm_topic_arn]
  pipeline_dims = { Pipeline = var.pipeline_name }
}

# ------------------------------------------------------------------------------------------------ logs

module "logs_key" {
  source                  = "../kms_key"
  alias                   = "${var.name_prefix}-logs"
  description             = "CloudWatch Logs encryption for ${var.name_prefix}"
  deletion_window_in_days = var.kms_deletion_window_in_days
  service_statements = [{
    sid     = "CloudWatchLogsOfThisAccount"
    service = "logs.${local.region}.amazonaws.com"
    actions = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
    conditions = [{
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = ["arn:${data.aws_partition.current.partition}:logs:${local.region}:${data.aws_caller_identity.current.account_id}:log-group:*"]
    }]
  }]
  tags = var.tags
}

resource "aws_cloudwatch_log_group" "this" {
  for_each          = var.log_groups
  name              = each.value
  retention_in_days = var.log_retention_in_days
  kms_key_id        = module.logs_key.key_arn
  tags              = merge(var.tags, { Name = each.value, Component = each.key })
}

# ---------------------------------------------------------------------------------------------- alarms

resource "aws_cloudwatch_metric_alarm" "kinesis_iterator_age" {
  alarm_name          = "${var.name_prefix}-kinesis-iterator-age"
  alarm_description   = "The oldest unread record on ${var.kinesis_stream_name} is older than ${var.iterator_age_threshold_ms} ms for 5 minutes: the pipeline host is falling behind or stopped."
  namespace           = "AWS/Kinesis"
  metric_name         = "GetRecords.IteratorAgeMilliseconds"
  dimensions          = { StreamName = var.kinesis_stream_name }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 5
  datapoints_to_alarm = 5
  threshold           = var.iterator_age_threshold_ms
  comparison_operator = "GreaterThanThreshold"
  # No GetRecords data at all means no consumer is reading: that is an outage, not a quiet period.
  treat_missing_data = "breaching"
  alarm_actions      = local.alarm_actions
  ok_actions         = local.alarm_actions
  tags               = var.tags
}

resource "aws_cloudwatch_metric_alarm" "dead_letters" {
  alarm_name          = "${var.name_prefix}-pipeline-dead-letters"
  alarm_description   = "Pipeline ${var.pipeline_name} wrote more than ${var.dead_letter_threshold} records to its dead-letter output in 5 minutes."
  namespace           = var.metrics_namespace
  metric_name         = "DeadLetterRecords"
  dimensions          = local.pipeline_dims
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = var.dead_letter_threshold
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "scorer_errors" {
  alarm_name          = "${var.name_prefix}-pipeline-scorer-errors"
  alarm_description   = "Pipeline ${var.pipeline_name} saw more than ${var.scorer_error_threshold} scoring errors (SageMaker calls that failed after retries) per 5 minutes, twice in 15 minutes."
  namespace           = var.metrics_namespace
  metric_name         = "ScorerErrors"
  dimensions          = local.pipeline_dims
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 3
  datapoints_to_alarm = 2
  threshold           = var.scorer_error_threshold
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = var.tags
}

# The host publishes Heartbeat = 1 in every metric interval (EMF on stdout, 60 s by default): no heartbeat for three
# minutes means the host is down, wedged or cut off from its logs, and every other host metric is silent too.
resource "aws_cloudwatch_metric_alarm" "heartbeat" {
  alarm_name          = "${var.name_prefix}-pipeline-heartbeat"
  alarm_description   = "Pipeline ${var.pipeline_name} published no heartbeat for 3 minutes: the host is down, wedged, or its metrics do not reach CloudWatch."
  namespace           = var.metrics_namespace
  metric_name         = "Heartbeat"
  dimensions          = local.pipeline_dims
  statistic           = "Sum"
  period              = 60
  evaluation_periods  = 3
  threshold           = 1
  comparison_operator = "LessThanThreshold"
  # The absence of the metric is the failure this alarm exists for.
  treat_missing_data = "breaching"
  alarm_actions      = local.alarm_actions
  ok_actions         = local.alarm_actions
  tags               = var.tags
}

resource "aws_cloudwatch_metric_alarm" "reference_table_age" {
  alarm_name          = "${var.name_prefix}-pipeline-reference-table-frozen"
  alarm_description   = "Pipeline ${var.pipeline_name} has not synced user_demographics for over ${var.reference_table_age_threshold_seconds} s for 3 minutes: joins use frozen demographics (the host also reports not ready)."
  namespace           = var.metrics_namespace
  metric_name         = "ReferenceTableAgeSeconds"
  dimensions          = local.pipeline_dims
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 3
  threshold           = var.reference_table_age_threshold_seconds
  comparison_operator = "GreaterThanThreshold"
  # A silent host is the heartbeat alarm's case.
  treat_missing_data = "notBreaching"
  alarm_actions      = local.alarm_actions
  ok_actions         = local.alarm_actions
  tags               = var.tags
}

resource "aws_cloudwatch_metric_alarm" "latency_p99" {
  alarm_name          = "${var.name_prefix}-pipeline-latency-p99"
  alarm_description   = "Pipeline ${var.pipeline_name}: end-to-end p99 latency above ${var.latency_p99_threshold_ms} ms in 3 of 5 minutes (a slow sink, scorer or dependency)."
  namespace           = var.metrics_namespace
  metric_name         = "EndToEndLatencyP99"
  dimensions          = local.pipeline_dims
  statistic           = "Maximum" # each datapoint is one interval's p99: the worst of them per period
  period              = 60
  evaluation_periods  = 5
  datapoints_to_alarm = 3
  threshold           = var.latency_p99_threshold_ms
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "lambda_errors" {
  alarm_name          = "${var.name_prefix}-slack-formatter-errors"
  alarm_description   = "The Slack formatter Lambda ${var.lambda_function_name} failed invocations in the last 5 minutes; alerts may not reach Slack."
  namespace           = "AWS/Lambda"
  metric_name         = "Errors"
  dimensions          = { FunctionName = var.lambda_function_name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = var.lambda_error_threshold
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "lambda_dead_letter_queue" {
  count               = var.lambda_dlq_name == null ? 0 : 1
  alarm_name          = "${var.name_prefix}-slack-formatter-dlq"
  alarm_description   = "Alerts that the Slack formatter gave up on are waiting in ${coalesce(var.lambda_dlq_name, "-")}; inspect and redrive them."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = var.lambda_dlq_name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = var.tags
}

# ------------------------------------------------------------------------------------------- dashboard

locals {
  alarm_arns = concat(
    [
      aws_cloudwatch_metric_alarm.kinesis_iterator_age.arn,
      aws_cloudwatch_metric_alarm.dead_letters.arn,
      aws_cloudwatch_metric_alarm.scorer_errors.arn,
      aws_cloudwatch_metric_alarm.heartbeat.arn,
      aws_cloudwatch_metric_alarm.reference_table_age.arn,
      aws_cloudwatch_metric_alarm.latency_p99.arn,
      aws_cloudwatch_metric_alarm.lambda_errors.arn,
    ],
    aws_cloudwatch_metric_alarm.lambda_dead_letter_queue[*].arn,
  )

  widgets = concat(
    [
      {
        type       = "alarm", x = 0, y = 0, width = 24, height = 3
        properties = { title = "Alarms", alarms = local.alarm_arns }
      },
      {
        type = "metric", x = 0, y = 3, width = 12, height = 6
        properties = {
          title       = "Lag (ms)", region = local.region, view = "timeSeries", stat = "Maximum", period = 60
          annotations = { horizontal = [{ label = "alarm", value = var.iterator_age_threshold_ms }] }
          metrics = [
            ["AWS/Kinesis", "GetRecords.IteratorAgeMilliseconds", "StreamName", var.kinesis_stream_name, { label = "Kinesis iterator age" }],
            [var.metrics_namespace, "MillisBehindLatest", "Pipeline", var.pipeline_name, { label = "host MillisBehindLatest" }],
          ]
        }
      },
      {
        type = "metric", x = 12, y = 3, width = 12, height = 6
        properties = {
          title = "Dead letters and scorer errors (per 5 min)", region = local.region, view = "timeSeries", stat = "Sum", period = 300
          metrics = [
            [var.metrics_namespace, "DeadLetterRecords", "Pipeline", var.pipeline_name],
            [var.metrics_namespace, "ScorerErrors", "Pipeline", var.pipeline_name],
          ]
        }
      },
      {
        type = "metric", x = 0, y = 9, width = 12, height = 6
        properties = {
          title = "Kinesis throughput (records/min)", region = local.region, view = "timeSeries", stat = "Sum", period = 60
          metrics = [
            ["AWS/Kinesis", "IncomingRecords", "StreamName", var.kinesis_stream_name],
            ["AWS/Kinesis", "GetRecords.Records", "StreamName", var.kinesis_stream_name],
          ]
        }
      },
      {
        type = "metric", x = 12, y = 9, width = 12, height = 6
        properties = {
          title = "Slack formatter Lambda", region = local.region, view = "timeSeries", stat = "Sum", period = 300
          metrics = [
            ["AWS/Lambda", "Invocations", "FunctionName", var.lambda_function_name],
            ["AWS/Lambda", "Errors", "FunctionName", var.lambda_function_name],
            ["AWS/Lambda", "Throttles", "FunctionName", var.lambda_function_name],
          ]
        }
      },
    ],
    var.ecs_service == null ? [] : [{
      type = "metric", x = 0, y = 15, width = 12, height = 6
      properties = {
        title = "Pipeline service CPU / memory (%)", region = local.region, view = "timeSeries", stat = "Average", period = 60
        metrics = [
          ["AWS/ECS", "CPUUtilization", "ClusterName", var.ecs_service.cluster_name, "ServiceName", var.ecs_service.service_name],
          ["AWS/ECS", "MemoryUtilization", "ClusterName", var.ecs_service.cluster_name, "ServiceName", var.ecs_service.service_name],
        ]
      }
    }],
    var.sagemaker_endpoint_name == null ? [] : [{
      type = "metric", x = 12, y = 15, width = 12, height = 6
      properties = {
        title = "Scoring endpoint", region = local.region, view = "timeSeries", period = 60
        metrics = [
          ["AWS/SageMaker", "Invocations", "EndpointName", var.sagemaker_endpoint_name, { stat = "Sum" }],
          ["AWS/SageMaker", "ModelLatency", "EndpointName", var.sagemaker_endpoint_name, { stat = "p99", yAxis = "right" }],
          ["AWS/SageMaker", "Invocation5XXErrors", "EndpointName", var.sagemaker_endpoint_name, { stat = "Sum" }],
        ]
      }
    }],
  )
}

resource "aws_cloudwatch_dashboard" "this" {
  dashboard_name = "${var.name_prefix}-fraud-pipeline"
  dashboard_body = jsonencode({ widgets = local.widgets })
}

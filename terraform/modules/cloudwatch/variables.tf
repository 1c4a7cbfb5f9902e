variable "name_prefix" {
  type        = string
  description = "Prefix of alarm, dashboard and key names, e.g. fraud-prod."
}

variable "log_groups" {
  type        = map(string)
  description = "Log groups to create: component => log group name (e.g. pipeline => /ecs/fraud-prod/pipeline-host, slack_formatter => /aws/lambda/fraud-prod-slack-formatter)."
  default     = {}
}

variable "log_retention_in_days" {
  type        = number
  description = "Retention of every log group, in days (one of the values CloudWatch Logs accepts)."
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_in_days)
    error_message = "log_retention_in_days must be a retention CloudWatch Logs accepts (e.g. 30, 90, 365, 731)."
  }
}

variable "alarm_topic_arn" {
  type        = string
  description = "SNS topic that alarms notify on ALARM and OK (the ops topic, not the fraud alerts topic)."
}

variable "metrics_namespace" {
  type        = string
  description = "CloudWatch namespace of the pipeline host's custom metrics."
  default     = "FraudPipeline"
}

variable "pipeline_name" {
  type        = string
  description = "Value of the Pipeline dimension on the host's custom metrics."
}

variable "kinesis_stream_name" {
  type        = string
  description = "Transactions stream whose GetRecords.IteratorAgeMilliseconds is alarmed."
}

variable "iterator_age_threshold_ms" {
  type        = number
  description = "Iterator age (ms) above which, for 5 consecutive minutes, the lag alarm fires."
  default     = 60000
}

variable "dead_letter_threshold" {
  type        = number
  description = "Dead-lettered records per 5 minutes above which the alarm fires (0: any dead letter)."
  default     = 0
}

variable "scorer_error_threshold" {
  type        = number
  description = "Scorer errors per 5 minutes above which (2 of 3 periods) the alarm fires."
  default     = 10
}

variable "reference_table_age_threshold_seconds" {
  type        = number
  description = "Seconds since the user_demographics table last synced (ReferenceTableAgeSeconds) above which, for 3 minutes, the frozen-table alarm fires."
  default     = 300
}

variable "latency_p99_threshold_ms" {
  type        = number
  description = "End-to-end p99 latency (source arrival → sink acknowledgement, ms) above which, for 3 of 5 minutes, the latency alarm fires."
  default     = 2000
}

variable "lambda_function_name" {
  type        = string
  description = "Name of the Slack formatter Lambda function."
}

variable "lambda_error_threshold" {
  type        = number
  description = "Lambda errors per 5 minutes above which the alarm fires (0: any error)."
  default     = 0
}

variable "lambda_dlq_name" {
  type        = string
  description = "Name of the Slack formatter's dead-letter SQS queue, or null for no DLQ alarm."
  default     = null
}

variable "ecs_service" {
  type = object({
    cluster_name = string
    service_name = string
  })
  description = "ECS cluster and service of the pipeline host, for the dashboard; null to leave the widget out."
  default     = null
}

variable "sagemaker_endpoint_name" {
  type        = string
  description = "Scoring endpoint name, for the dashboard; null to leave the widget out."
  default     = null
}

variable "kms_deletion_window_in_days" {
  type        = number
  description = "Waiting period before the logs key can be deleted after it is scheduled for deletion."
  default     = 30
}

variable "tags" {
  type        = map(string)
  description = "Tags for the log groups, alarms and key."
  default     = {}
}

variable "function_name" {
  type        = string
  description = "Function name, e.g. fraud-prod-slack-formatter."

  validation {
    condition     = can(regex("^[a-zA-Z0-9_-]{1,60}$", var.function_name))
    error_message = "function_name must be 1-60 letters, digits, '_' or '-' (room is left for the -dlq and -role suffixes)."
  }
}

variable "zip_path" {
  type        = string
  description = "Path of the deployment zip built by the project (contains bootstrap, the pipeline-host binary and pipelines/lambda-slack.json)."
}

variable "artifacts_bucket_name" {
  type        = string
  description = "Versioned bucket the zip is uploaded to and signed in (lambda/<function_name>/unsigned.zip, then lambda/<function_name>/signed/)."
}

variable "artifacts_kms_key_arn" {
  type        = string
  description = "KMS key of the artifacts bucket (the uploaded zip is encrypted with it)."
}

variable "signature_validity_months" {
  type        = number
  description = "How long a signature made by the function's signing profile stays valid; Lambda refuses to deploy a package whose signature has expired."
  default     = 24

  validation {
    condition     = var.signature_validity_months >= 1 && var.signature_validity_months <= 135 && floor(var.signature_validity_months) == var.signature_validity_months
    error_message = "signature_validity_months must be a whole number of months between 1 and 135."
  }
}

variable "kms_deletion_window_in_days" {
  type        = number
  description = "Waiting period before the dead-letter queue's key can be deleted after it is scheduled for deletion."
  default     = 30
}

variable "architecture" {
  type        = string
  description = "Instruction set the zip was built for: arm64 or x86_64."
  default     = "arm64"

  validation {
    condition     = contains(["arm64", "x86_64"], var.architecture)
    error_message = "architecture must be arm64 or x86_64."
  }
}

variable "spec_path" {
  type        = string
  description = "Pipeline spec inside the zip, relative to LAMBDA_TASK_ROOT; passed as PIPELINE_SPEC to bootstrap."
  default     = "pipelines/lambda-slack.json"
}

variable "environment" {
  type        = map(string)
  description = "Extra environment variables (no secret values; SLACK_SECRET_ARN and PIPELINE_SPEC are set by the module)."
  default     = {}
}

variable "memory_size" {
  type        = number
  description = "Memory in MB (CPU scales with it)."
  default     = 256
}

variable "timeout_seconds" {
  type        = number
  description = "Invocation timeout; leaves room for Slack's Retry-After on HTTP 429."
  default     = 30
}

variable "reserved_concurrency" {
  type        = number
  description = "Reserved concurrent executions; caps the posting rate toward Slack (about 1 message/s per channel)."
  default     = 5

  validation {
    condition     = var.reserved_concurrency >= 1
    error_message = "reserved_concurrency must be at least 1 (0 would disable the function)."
  }
}

variable "maximum_event_age_seconds" {
  type        = number
  description = "Age after which an undelivered alert goes to the dead-letter queue instead of being retried (60-21600)."
  default     = 3600
}

variable "alerts_topic_arn" {
  type        = string
  description = "ARN of the SNS topic of fraud alerts the function subscribes to."
}

variable "slack_secret_arn" {
  type        = string
  description = "ARN of the Secrets Manager secret holding the Slack webhook URL / bot token (JSON)."
}

variable "slack_secret_kms_key_arn" {
  type        = string
  description = "ARN of the KMS key that encrypts the Slack secret."
}

variable "log_group_name" {
  type        = string
  description = "Name of the (pre-created, encrypted) log group the function writes to."
}

variable "log_group_arn" {
  type        = string
  description = "ARN of that log group, without the trailing :*."
}

variable "tags" {
  type        = map(string)
  description = "Tags for the function, its role and its queue."
  default     = {}
}

variable "job_name" {
  type        = string
  description = "Glue job name, e.g. fraud-prod-user-demographics-refresh."
}

variable "script_path" {
  type        = string
  description = "Local path of glue/user_demographics_refresh.py; uploaded to the artifacts bucket."
}

variable "artifacts_bucket_name" {
  type        = string
  description = "Bucket the job script is uploaded to."
}

variable "artifacts_kms_key_arn" {
  type        = string
  description = "KMS key of the artifacts bucket; also used for the job's S3 and bookmark encryption."
}

variable "source_s3_uri" {
  type        = string
  description = "s3://bucket/prefix/ under which the upstream system drops user_demographics snapshots (CSV or JSON Lines, optionally .gz)."

  validation {
    condition     = can(regex("^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/.*)?$", var.source_s3_uri))
    error_message = "source_s3_uri must look like s3://bucket/prefix/."
  }
}

variable "source_kms_key_arn" {
  type        = string
  description = "KMS key of the source bucket when it differs from the artifacts key, else null."
  default     = null
}

variable "table_name" {
  type        = string
  description = "Name of the user_demographics table."
}

variable "table_arn" {
  type        = string
  description = "ARN of the user_demographics table."
}

variable "table_kms_key_arn" {
  type        = string
  description = "KMS key that encrypts the table."
}

variable "logs_kms_key_arn" {
  type        = string
  description = "KMS key for the job's CloudWatch logs (its policy must allow CloudWatch Logs of this account)."
}

variable "max_reject_ratio" {
  type        = number
  description = "Fraction of invalid rows above which the job fails without writing anything."
  default     = 0.01

  validation {
    condition     = var.max_reject_ratio >= 0 && var.max_reject_ratio <= 1
    error_message = "max_reject_ratio must be between 0 and 1."
  }
}

variable "max_capacity" {
  type        = number
  description = "DPUs for the Python shell job: 0.0625 or 1."
  default     = 0.0625

  validation {
    condition     = contains([0.0625, 1], var.max_capacity)
    error_message = "Python shell jobs accept a max_capacity of 0.0625 or 1."
  }
}

variable "max_retries" {
  type        = number
  description = "Retries of a failed run (the next hourly run catches up anyway)."
  default     = 1
}

variable "timeout_minutes" {
  type        = number
  description = "Run timeout in minutes; shorter than the schedule period so runs never pile up."
  default     = 45
}

variable "tags" {
  type        = map(string)
  description = "Tags for the job, its role and the script object."
  default     = {}
}

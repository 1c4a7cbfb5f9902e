variable "name_prefix" {
  type        = string
  description = "Prefix of every bucket name, e.g. fraud-prod; the account id is appended for global uniqueness."

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{1,30}$", var.name_prefix))
    error_message = "name_prefix must be 2-31 lowercase letters, digits or '-'."
  }
}

variable "artifacts_noncurrent_version_expiration_days" {
  type        = number
  description = "Days a replaced or deleted artifact version is kept (rollback window for models, specs and code)."
  default     = 180
}

variable "checkpoints_noncurrent_version_expiration_days" {
  type        = number
  description = "Days an overwritten checkpoint version is kept."
  default     = 7
}

variable "scored_events_transition_to_ia_days" {
  type        = number
  description = "Age in days at which scored events move to STANDARD_IA (at least 30)."
  default     = 30

  validation {
    condition     = var.scored_events_transition_to_ia_days >= 30
    error_message = "S3 requires at least 30 days before a transition to STANDARD_IA."
  }
}

variable "scored_events_transition_to_glacier_ir_days" {
  type        = number
  description = "Age in days at which scored events move to GLACIER_IR."
  default     = 90
}

variable "scored_events_expiration_days" {
  type        = number
  description = "Age in days at which scored events are deleted (after both transitions)."
  default     = 730

  validation {
    condition     = var.scored_events_expiration_days > var.scored_events_transition_to_glacier_ir_days && var.scored_events_transition_to_glacier_ir_days > var.scored_events_transition_to_ia_days
    error_message = "Need scored_events_transition_to_ia_days < scored_events_transition_to_glacier_ir_days < scored_events_expiration_days."
  }
}

variable "access_logs_expiration_days" {
  type        = number
  description = "Age in days at which S3 server access logs are deleted."
  default     = 365
}

variable "kms_deletion_window_in_days" {
  type        = number
  description = "Waiting period before the bucket key can be deleted after it is scheduled for deletion."
  default     = 30
}

variable "tags" {
  type        = map(string)
  description = "Tags for the buckets and the key."
  default     = {}
}

variable "alias" {
  type        = string
  description = "Alias name without the alias/ prefix, e.g. fraud-prod-s3."

  validation {
    condition     = can(regex("^[a-zA-Z0-9/_-]{1,250}$", var.alias)) && !startswith(var.alias, "aws/")
    error_message = "alias must be letters, digits, '/', '_' or '-' and must not start with aws/."
  }
}

variable "description" {
  type        = string
  description = "What the key protects; shown in the KMS console."
}

variable "service_statements" {
  type = list(object({
    sid     = string
    service = string
    actions = list(string)
    conditions = optional(list(object({
      test     = string
      variable = string
      values   = list(string)
    })), [])
  }))
  description = "Extra key policy statements for AWS service principals (e.g. logs.<region>.amazonaws.com), each with its actions and conditions."
  default     = []

  validation {
    condition     = alltrue([for s in var.service_statements : !contains(s.actions, "kms:*") && !contains(s.actions, "*")])
    error_message = "Service statements must list actions explicitly, not kms:* or *."
  }
}

variable "deletion_window_in_days" {
  type        = number
  description = "Waiting period before a scheduled key deletion completes (7-30 days)."
  default     = 30

  validation {
    condition     = var.deletion_window_in_days >= 7 && var.deletion_window_in_days <= 30
    error_message = "deletion_window_in_days must be between 7 and 30."
  }
}

variable "rotation_period_in_days" {
  type        = number
  description = "Automatic key rotation period (90-2560 days)."
  default     = 365

  validation {
    condition     = var.rotation_period_in_days >= 90 && var.rotation_period_in_days <= 2560
    error_message = "rotation_period_in_days must be between 90 and 2560."
  }
}

variable "tags" {
  type        = map(string)
  description = "Tags for the key."
  default     = {}
}

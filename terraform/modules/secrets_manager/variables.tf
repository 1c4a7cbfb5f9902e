variable "name_prefix" {
  type        = string
  description = "Path prefix of the secret names, e.g. fraud-prod (secrets are named <prefix>/<key>)."
}

variable "secrets" {
  type        = map(string)
  description = "Secrets to create: key = short name (e.g. slack), value = description of the expected JSON value."

  validation {
    condition     = alltrue([for k in keys(var.secrets) : can(regex("^[a-zA-Z0-9/_+=.@-]{1,200}$", k))])
    error_message = "Secret keys may contain only letters, digits and /_+=.@-."
  }
}

variable "recovery_window_in_days" {
  type        = number
  description = "Days a deleted secret can still be restored (0 deletes at once; otherwise 7-30)."
  default     = 30

  validation {
    condition     = var.recovery_window_in_days == 0 || (var.recovery_window_in_days >= 7 && var.recovery_window_in_days <= 30)
    error_message = "recovery_window_in_days must be 0 or between 7 and 30."
  }
}

variable "kms_deletion_window_in_days" {
  type        = number
  description = "Waiting period before the secrets key can be deleted after it is scheduled for deletion."
  default     = 30
}

variable "tags" {
  type        = map(string)
  description = "Tags for the secrets and the key."
  default     = {}
}

variable "name" {
  type        = string
  description = "Topic name, e.g. fraud-prod-alerts."

  validation {
    condition     = can(regex("^[a-zA-Z0-9_-]{1,256}$", var.name))
    error_message = "name must be 1-256 letters, digits, '_' or '-' (standard topics only)."
  }
}

variable "display_name" {
  type        = string
  description = "Display name used as the sender for email subscriptions."
  default     = null
}

variable "allow_cloudwatch_alarms" {
  type        = bool
  description = "Let CloudWatch alarms of this account publish to the topic and use its key."
  default     = false
}

variable "email_subscriptions" {
  type        = list(string)
  description = "Email addresses to subscribe (each must confirm the subscription)."
  default     = []
}

variable "kms_deletion_window_in_days" {
  type        = number
  description = "Waiting period before the topic key can be deleted after it is scheduled for deletion."
  default     = 30
}

variable "tags" {
  type        = map(string)
  description = "Tags for the topic and its key."
  default     = {}
}

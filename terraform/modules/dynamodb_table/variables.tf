variable "name" {
  type        = string
  description = "Table name, e.g. user_demographics or fraud-prod-pipeline-leases."

  validation {
    condition     = can(regex("^[a-zA-Z0-9_.-]{3,255}$", var.name))
    error_message = "name must be 3-255 characters of letters, digits, '_', '.' or '-'."
  }
}

variable "hash_key" {
  type        = string
  description = "Partition key attribute name (user_id for user_demographics, leaseKey for the lease table)."
}

variable "hash_key_type" {
  type        = string
  description = "Partition key attribute type: S, N or B."
  default     = "S"

  validation {
    condition     = contains(["S", "N", "B"], var.hash_key_type)
    error_message = "hash_key_type must be S, N or B."
  }
}

variable "range_key" {
  type        = string
  description = "Sort key attribute name, or null for a table with a partition key only."
  default     = null
}

variable "range_key_type" {
  type        = string
  description = "Sort key attribute type: S, N or B (used only with range_key)."
  default     = "S"

  validation {
    condition     = contains(["S", "N", "B"], var.range_key_type)
    error_message = "range_key_type must be S, N or B."
  }
}

variable "stream_view_type" {
  type        = string
  description = "DynamoDB stream view type (NEW_AND_OLD_IMAGES, NEW_IMAGE, OLD_IMAGE, KEYS_ONLY), or null for no stream."
  default     = null

  validation {
    condition     = var.stream_view_type == null || contains(["NEW_AND_OLD_IMAGES", "NEW_IMAGE", "OLD_IMAGE", "KEYS_ONLY"], coalesce(var.stream_view_type, "x"))
    error_message = "stream_view_type must be NEW_AND_OLD_IMAGES, NEW_IMAGE, OLD_IMAGE, KEYS_ONLY or null."
  }
}

variable "ttl_attribute" {
  type        = string
  description = "Attribute holding an epoch-seconds expiry time, or null to disable TTL."
  default     = null
}

variable "deletion_protection" {
  type        = bool
  description = "Refuse DeleteTable while true."
  default     = true
}

variable "kms_deletion_window_in_days" {
  type        = number
  description = "Waiting period before the table key can be deleted after it is scheduled for deletion."
  default     = 30
}

variable "tags" {
  type        = map(string)
  description = "Tags for the table and its key."
  default     = {}
}

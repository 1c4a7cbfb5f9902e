variable "name" {
  type        = string
  description = "Globally unique bucket name."
}

variable "kms_key_arn" {
  type        = string
  description = "Customer managed key for default SSE-KMS encryption."
}

variable "access_logs_bucket" {
  type        = string
  description = "Bucket receiving this bucket's server access logs."
}

variable "access_logs_prefix" {
  type        = string
  description = "Key prefix of this bucket's access logs in the log bucket, ending in /."
}

variable "noncurrent_version_expiration_days" {
  type        = number
  description = "Days a replaced or deleted object version is kept."
}

variable "tiering" {
  type = object({
    transition_to_ia_days         = number
    transition_to_glacier_ir_days = number
    expiration_days               = number
  })
  description = "Storage tiering and expiry of current versions, or null to keep current versions in STANDARD forever."
  default     = null
}

variable "tags" {
  type        = map(string)
  description = "Tags for the bucket."
  default     = {}
}

variable "stream_name" {
  type        = string
  description = "Name of the existing Kinesis data stream that carries raw transactions."

  validation {
    condition     = can(regex("^[a-zA-Z0-9_.-]{1,128}$", var.stream_name))
    error_message = "stream_name must be 1-128 characters of letters, digits, '_', '.' or '-'."
  }
}

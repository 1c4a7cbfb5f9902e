variable "name" {
  type        = string
  description = "Name of the schedule group and prefix of the schedule, role and queue, e.g. fraud-prod-user-demographics."
}

variable "glue_job_name" {
  type        = string
  description = "Name of the Glue job to start."
}

variable "glue_job_arn" {
  type        = string
  description = "ARN of the Glue job to start (the scheduler role may start only this job)."
}

variable "schedule_expression" {
  type        = string
  description = "Scheduler expression: rate(...), cron(...) or at(...). Hourly by default, at minute 5."
  default     = "cron(5 * * * ? *)"

  validation {
    condition     = can(regex("^(rate|cron|at)\\(.+\\)$", var.schedule_expression))
    error_message = "schedule_expression must be rate(...), cron(...) or at(...)."
  }
}

variable "timezone" {
  type        = string
  description = "IANA time zone the cron expression is evaluated in."
  default     = "UTC"
}

variable "flexible_window_minutes" {
  type        = number
  description = "Flexible time window in minutes (0 = start exactly on schedule)."
  default     = 0
}

variable "enabled" {
  type        = bool
  description = "Whether the schedule is enabled."
  default     = true
}

variable "tags" {
  type        = map(string)
  description = "Tags for the schedule group, role and queue."
  default     = {}
}

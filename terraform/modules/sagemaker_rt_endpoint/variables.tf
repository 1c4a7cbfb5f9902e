variable "name" {
  type        = string
  description = "Endpoint name, e.g. fraud-prod-scoring; also the prefix of models, configuration, role and key."

  validation {
    condition     = can(regex("^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,40}$", var.name))
    error_message = "name must be 1-41 letters, digits or '-' (room is left for model and role suffixes)."
  }
}

variable "variants" {
  type = list(object({
    name                   = string
    image_uri              = string
    model_data_url         = string
    instance_type          = optional(string, "ml.m5.large")
    initial_instance_count = optional(number, 1)
    weight                 = optional(number, 1)
    min_capacity           = optional(number, 1)
    max_capacity           = optional(number, 4)
  }))
  description = "Production variants. Each has its own model (model-server image pinned by digest + s3://.../models/vN/model.tar.gz); traffic share = weight / sum of weights."

  validation {
    condition     = length(var.variants) >= 1 && length(var.variants) == length(distinct([for v in var.variants : v.name]))
    error_message = "Give at least one variant, with unique names."
  }

  validation {
    condition     = alltrue([for v in var.variants : can(regex("^[a-z0-9][a-z0-9.-]*(:[0-9]+)?/[a-z0-9][a-z0-9._/-]*@sha256:[0-9a-f]{64}$", v.image_uri))])
    error_message = "Each variant's image_uri must be pinned by digest: <registry>/<repository>@sha256:<64 hex digits>."
  }

  validation {
    condition     = alltrue([for v in var.variants : can(regex("^s3://[^/]+/.+\\.tar\\.gz$", v.model_data_url))])
    error_message = "model_data_url must be s3://bucket/key.tar.gz."
  }

  validation {
    condition     = alltrue([for v in var.variants : v.weight >= 0 && v.min_capacity >= 1 && v.max_capacity >= v.min_capacity && v.initial_instance_count >= v.min_capacity])
    error_message = "Each variant needs weight >= 0, 1 <= min_capacity <= initial_instance_count and max_capacity >= min_capacity."
  }
}

variable "container_environment" {
  type        = map(string)
  description = "Environment of the model-server container (no secrets)."
  default     = {}
}

variable "artifacts_kms_key_arn" {
  type        = string
  description = "KMS key of the artifacts bucket holding the model bundles."
}

variable "ecr_repository_arns" {
  type        = list(string)
  description = "ECR repositories the model-server image is pulled from (empty when the image is not in this account's ECR)."
  default     = []
}

variable "subnet_ids" {
  type        = list(string)
  description = "Private subnets for the model containers; empty for SageMaker-managed networking (the containers run with network isolation either way)."
  default     = []
}

variable "security_group_ids" {
  type        = list(string)
  description = "Security groups for the model containers when subnet_ids is set."
  default     = []
}

variable "invocations_per_instance_target" {
  type        = number
  description = "Target of SageMakerVariantInvocationsPerInstance (invocations per instance per minute) for autoscaling."
  default     = 3000
}

variable "kms_deletion_window_in_days" {
  type        = number
  description = "Waiting period before the volume key can be deleted after it is scheduled for deletion."
  default     = 30
}

variable "tags" {
  type        = map(string)
  description = "Tags for every resource of the module."
  default     = {}
}

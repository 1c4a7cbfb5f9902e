variable "name" {
  type        = string
  description = "Name of the cluster, service, task family and roles, e.g. fraud-prod-pipeline; also the checkpoint key prefix."

  validation {
    condition     = can(regex("^[a-zA-Z0-9-]{1,48}$", var.name))
    error_message = "name must be 1-48 letters, digits or '-'."
  }
}

variable "image_uri" {
  type        = string
  description = "Container image with the pipeline-host binary on PATH, pinned by digest (<registry>/<repository>@sha256:<digest>)."

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]*(:[0-9]+)?/[a-z0-9][a-z0-9._/-]*@sha256:[0-9a-f]{64}$", var.image_uri))
    error_message = "image_uri must be pinned by digest: <registry>/<repository>@sha256:<64 hex digits>."
  }
}

variable "spec_s3_uri" {
  type        = string
  description = "s3://bucket/key of the pipeline spec JSON; set this or spec_ssm_parameter_arn."
  default     = null

  validation {
    condition     = var.spec_s3_uri == null || can(regex("^s3://[^/]+/.+", coalesce(var.spec_s3_uri, "x")))
    error_message = "spec_s3_uri must be s3://bucket/key."
  }
}

variable "spec_ssm_parameter_arn" {
  type        = string
  description = "ARN of the SSM parameter holding the pipeline spec JSON; set this or spec_s3_uri."
  default     = null
}

variable "spec_kms_key_arn" {
  type        = string
  description = "KMS key of the spec SSM parameter when it is a SecureString with a customer managed key, else null."
  default     = null
}

variable "spec_fetch_image" {
  type        = string
  description = "AWS CLI image that copies the spec into the task before the host starts, pinned by digest. The tasks have no internet egress, so it must be in this account's ECR (e.g. a mirror of public.ecr.aws/aws-cli/aws-cli) and its repository listed in ecr_repository_arns."

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]*(:[0-9]+)?/[a-z0-9][a-z0-9._/-]*@sha256:[0-9a-f]{64}$", var.spec_fetch_image))
    error_message = "spec_fetch_image must be pinned by digest: <registry>/<repository>@sha256:<64 hex digits>."
  }
}

variable "container_user" {
  type        = string
  description = "Numeric uid:gid both containers run as (never root); the images must give this user the /spec and /tmp mount points (see README.md)."
  default     = "10001:10001"

  validation {
    condition     = can(regex("^[0-9]+:[0-9]+$", var.container_user)) && alltrue([for id in split(":", var.container_user) : tonumber(id) > 0])
    error_message = "container_user must be a numeric uid:gid, neither of them 0 (root)."
  }
}

variable "cpu" {
  type        = number
  description = "Task CPU units (1024 = 1 vCPU)."
  default     = 1024
}

variable "memory" {
  type        = number
  description = "Task memory in MiB (must be valid for the chosen cpu on Fargate)."
  default     = 2048
}

variable "cpu_architecture" {
  type        = string
  description = "ARM64 or X86_64, matching the image."
  default     = "ARM64"

  validation {
    condition     = contains(["ARM64", "X86_64"], var.cpu_architecture)
    error_message = "cpu_architecture must be ARM64 or X86_64."
  }
}

variable "min_capacity" {
  type        = number
  description = "Minimum (and initial) number of tasks."
  default     = 1
}

variable "max_capacity" {
  type        = number
  description = "Maximum number of tasks; more tasks than open shards only adds idle workers."
  default     = 4
}

variable "cpu_target_percent" {
  type        = number
  description = "Average CPU utilisation the CPU target tracking policy keeps."
  default     = 60
}

variable "iterator_age_target_ms" {
  type        = number
  description = "Kinesis iterator age (Maximum, ms) above which the service scales out."
  default     = 30000
}

variable "admin_port" {
  type        = number
  description = "Port of the host's admin HTTP server (/metrics, /health, /ready); must match the spec."
  default     = 9090
}

variable "environment" {
  type        = map(string)
  description = "Extra environment variables of the pipeline-host container (no secrets; AWS_REGION is set by the module)."
  default     = {}
}

variable "vpc_id" {
  type        = string
  description = "VPC of the tasks."
}

variable "subnet_ids" {
  type        = list(string)
  description = "Private subnets of the tasks (no public IPs are assigned)."
}

variable "egress_security_group_ids" {
  type        = map(string)
  description = "Security groups the tasks may reach on 443, by a static label (e.g. vpc_endpoints => the interface endpoints' group)."
  default     = {}
}

variable "egress_prefix_list_ids" {
  type        = map(string)
  description = "Managed prefix lists the tasks may reach on 443, by a static label (e.g. s3 and dynamodb => the gateway endpoints' prefix lists)."
  default     = {}
}

variable "egress_cidr_blocks" {
  type        = list(string)
  description = "Extra private IPv4 networks the tasks may reach on 443 (normally none: AWS APIs are reached through VPC endpoints). Never a /0."
  default     = []

  validation {
    condition     = alltrue([for c in var.egress_cidr_blocks : can(cidrhost(c, 0)) && !strcontains(c, ":") && tonumber(split("/", c)[1]) >= 8])
    error_message = "egress_cidr_blocks must be IPv4 CIDR blocks no wider than /8; 0.0.0.0/0 (the internet) is refused."
  }
}

variable "admin_ingress_cidr_blocks" {
  type        = list(string)
  description = "Private IPv4 networks allowed to reach the admin port (e.g. the Prometheus scraper); empty for none."
  default     = []

  validation {
    condition     = alltrue([for c in var.admin_ingress_cidr_blocks : can(cidrhost(c, 0)) && !strcontains(c, ":") && tonumber(split("/", c)[1]) >= 8])
    error_message = "admin_ingress_cidr_blocks must be IPv4 CIDR blocks no wider than /8; the admin port is never open to the internet."
  }
}

variable "network_dependencies" {
  type        = list(string)
  description = "Ids of network resources (the VPC endpoints) that must exist before the service starts tasks."
  default     = []
}

variable "ecr_repository_arns" {
  type        = list(string)
  description = "ECR repositories the task images are pulled from (empty when no image is in this account's ECR)."
  default     = []
}

variable "log_group_name" {
  type        = string
  description = "Log group (created by the cloudwatch module) for both containers."
}

variable "log_group_arn" {
  type        = string
  description = "ARN of that log group, without the trailing :*."
}

variable "kinesis_stream_name" {
  type        = string
  description = "Transactions stream name (iterator age scaling metric)."
}

variable "kinesis_stream_arn" {
  type        = string
  description = "Transactions stream ARN."
}

variable "kinesis_kms_key_arn" {
  type        = string
  description = "KMS key of the stream when it is encrypted, else null."
  default     = null
}

variable "lease_table_arn" {
  type        = string
  description = "ARN of the checkpoint/lease table (partition key leaseKey)."
}

variable "lease_table_kms_key_arn" {
  type        = string
  description = "KMS key of the lease table."
}

variable "reference_table_arn" {
  type        = string
  description = "ARN of user_demographics (scanned at start, then followed through its stream)."
}

variable "reference_table_kms_key_arn" {
  type        = string
  description = "KMS key of user_demographics."
}

variable "sagemaker_endpoint_arn" {
  type        = string
  description = "ARN of the scoring endpoint."
}

variable "alerts_topic_arn" {
  type        = string
  description = "ARN of the fraud alerts SNS topic."
}

variable "alerts_topic_kms_key_arn" {
  type        = string
  description = "KMS key of the alerts topic."
}

variable "artifacts_bucket_arn" {
  type        = string
  description = "ARN of the artifacts bucket (the host reads models/*, e.g. the feature scaler)."
}

variable "checkpoints_bucket_arn" {
  type        = string
  description = "ARN of the checkpoints bucket (the host uses the <name>/ prefix)."
}

variable "scored_events_bucket_arn" {
  type        = string
  description = "ARN of the scored events bucket."
}

variable "s3_kms_key_arn" {
  type        = string
  description = "KMS key of the three buckets."
}

variable "metrics_namespace" {
  type        = string
  description = "CloudWatch namespace the host may publish custom metrics to."
  default     = "FraudPipeline"
}

variable "tags" {
  type        = map(string)
  description = "Tags for every resource of the module."
  default     = {}
}

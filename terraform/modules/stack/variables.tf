# ------------------------------------------------------------------------------------------- identity

variable "environment" {
  type        = string
  description = "Environment name (e.g. staging, prod): part of every resource name (fraud-<environment>-...) and the PIPELINE_ENVIRONMENT of the host."

  validation {
    condition     = can(regex("^[a-z][a-z0-9]{1,11}$", var.environment))
    error_message = "environment must be 2-12 lowercase letters or digits, starting with a letter."
  }
}

variable "transactions_stream_name" {
  type        = string
  description = "Name of the existing Kinesis stream of raw transactions (looked up, not created)."
  default     = "transactions"

  validation {
    condition     = can(regex("^[a-zA-Z0-9_.-]{1,128}$", var.transactions_stream_name))
    error_message = "transactions_stream_name must be a Kinesis stream name: 1-128 letters, digits, '_', '.' or '-'."
  }
}

variable "pipeline_name" {
  type        = string
  description = "Pipeline name used as the Pipeline dimension of the host's FraudPipeline metrics (must match the spec)."
  default     = "fraud-scoring"

  validation {
    condition     = can(regex("^[a-zA-Z0-9_.-]{1,64}$", var.pipeline_name))
    error_message = "pipeline_name must be 1-64 letters, digits, '_', '.' or '-'."
  }
}

variable "pipeline_spec_key" {
  type        = string
  description = "Key of the pipeline spec in the artifacts bucket, uploaded by the release job."
  default     = "pipelines/fraud-scoring.json"

  validation {
    condition     = can(regex("^[a-zA-Z0-9!_.*'()/-]+\\.json$", var.pipeline_spec_key)) && !startswith(var.pipeline_spec_key, "/")
    error_message = "pipeline_spec_key must be a relative S3 key ending in .json."
  }
}

# --------------------------------------------------------------------------------------------- network

variable "vpc_id" {
  type        = string
  description = "VPC of the pipeline tasks; the stack adds the S3/DynamoDB gateway endpoints and the interface endpoints to it."

  validation {
    condition     = can(regex("^vpc-[0-9a-f]{8,17}$", var.vpc_id))
    error_message = "vpc_id must look like vpc-0123456789abcdef0."
  }
}

variable "private_subnet_ids" {
  type        = list(string)
  description = "Private subnets of the pipeline tasks and the interface endpoints, at most one per Availability Zone. They need no NAT: every AWS API is reached through VPC endpoints."

  validation {
    condition     = length(var.private_subnet_ids) >= 1 && length(distinct(var.private_subnet_ids)) == length(var.private_subnet_ids) && alltrue([for s in var.private_subnet_ids : can(regex("^subnet-[0-9a-f]{8,17}$", s))])
    error_message = "Give at least one subnet id (subnet-...), without duplicates."
  }
}

variable "private_route_table_ids" {
  type        = list(string)
  description = "Route tables of private_subnet_ids; the S3 and DynamoDB gateway endpoints are attached to them (they must not already have one)."

  validation {
    condition     = length(var.private_route_table_ids) >= 1 && alltrue([for r in var.private_route_table_ids : can(regex("^rtb-[0-9a-f]{8,17}$", r))])
    error_message = "Give at least one route table id (rtb-...)."
  }
}

variable "admin_ingress_cidr_blocks" {
  type        = list(string)
  description = "Private IPv4 networks allowed to scrape the host's admin port; empty for none."
  default     = []

  validation {
    condition     = alltrue([for c in var.admin_ingress_cidr_blocks : can(cidrhost(c, 0)) && !strcontains(c, ":") && tonumber(split("/", c)[1]) >= 8])
    error_message = "admin_ingress_cidr_blocks must be IPv4 CIDR blocks no wider than /8 (never 0.0.0.0/0)."
  }
}

# ---------------------------------------------------------------------------------------------- images

variable "pipeline_image_uri" {
  type        = string
  description = "Image with the pipeline-host binary, in ECR and pinned by digest (<registry>/<repository>@sha256:<digest>)."

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]*(:[0-9]+)?/[a-z0-9][a-z0-9._/-]*@sha256:[0-9a-f]{64}$", var.pipeline_image_uri))
    error_message = "pipeline_image_uri must be pinned by digest: <registry>/<repository>@sha256:<64 hex digits>."
  }
}

variable "spec_fetch_image_uri" {
  type        = string
  description = "AWS CLI image that copies the spec into each task, in this account's ECR (the tasks cannot reach public.ecr.aws) and pinned by digest."

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]*(:[0-9]+)?/[a-z0-9][a-z0-9._/-]*@sha256:[0-9a-f]{64}$", var.spec_fetch_image_uri))
    error_message = "spec_fetch_image_uri must be pinned by digest: <registry>/<repository>@sha256:<64 hex digits>."
  }
}

variable "model_server_image_uri" {
  type        = string
  description = "Image of the model-server (SageMaker container contract), pinned by digest."

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]*(:[0-9]+)?/[a-z0-9][a-z0-9._/-]*@sha256:[0-9a-f]{64}$", var.model_server_image_uri))
    error_message = "model_server_image_uri must be pinned by digest: <registry>/<repository>@sha256:<64 hex digits>."
  }
}

variable "ecr_repository_arns" {
  type        = list(string)
  description = "ECR repositories of the pipeline-host, spec-fetch and model-server images (the only registries the tasks and endpoint may pull from)."

  validation {
    condition     = length(var.ecr_repository_arns) >= 1 && alltrue([for a in var.ecr_repository_arns : can(regex("^arn:aws[a-z-]*:ecr:[a-z0-9-]+:[0-9]{12}:repository/[a-z0-9][a-z0-9._/-]*$", a))])
    error_message = "ecr_repository_arns must be at least one ECR repository ARN (arn:aws:ecr:<region>:<account>:repository/<name>)."
  }
}

# -------------------------------------------------------------------------------------------- releases

variable "model_variants" {
  type = map(object({
    version = string
    weight  = number
  }))
  description = "Production variants of the scoring endpoint: variant name => model bundle version (models/<version>/model.tar.gz) and traffic weight."

  validation {
    condition     = length(var.model_variants) >= 1 && alltrue([for n, v in var.model_variants : can(regex("^[a-zA-Z0-9-]{1,20}$", n)) && can(regex("^[a-zA-Z0-9._-]{1,32}$", v.version)) && v.weight >= 0])
    error_message = "Give at least one variant: names of 1-20 letters, digits or '-', versions of letters, digits, '.', '_' or '-', weights >= 0."
  }

  validation {
    condition     = sum(concat([0], [for v in values(var.model_variants) : v.weight])) > 0
    error_message = "At least one variant needs a positive weight."
  }
}

variable "slack_formatter_zip_path" {
  type        = string
  description = "Path of the Lambda zip built by the project (bootstrap + pipeline-host + pipelines/lambda-slack.json); it is uploaded and signed by the stack."

  validation {
    condition     = endswith(var.slack_formatter_zip_path, ".zip")
    error_message = "slack_formatter_zip_path must be the path of a .zip file."
  }
}

variable "alarm_emails" {
  type        = list(string)
  description = "Email addresses subscribed to the ops alarms topic."
  default     = []

  validation {
    condition     = alltrue([for e in var.alarm_emails : can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", e))])
    error_message = "alarm_emails must be email addresses."
  }
}

# ------------------------------------------------------------------------------------- sizes and limits

variable "pipeline_cpu" {
  type        = number
  description = "CPU units of a pipeline task (1024 = 1 vCPU)."

  validation {
    condition     = contains([256, 512, 1024, 2048, 4096, 8192, 16384], var.pipeline_cpu)
    error_message = "pipeline_cpu must be a Fargate CPU size: 256, 512, 1024, 2048, 4096, 8192 or 16384."
  }
}

variable "pipeline_memory" {
  type        = number
  description = "Memory of a pipeline task in MiB; Fargate allows 2-8 GiB per vCPU (0.5-2 GiB for 256 units)."

  validation {
    condition     = var.pipeline_memory >= max(512, var.pipeline_cpu * 2) && var.pipeline_memory <= max(2048, var.pipeline_cpu * 8) && var.pipeline_memory % 512 == 0
    error_message = "pipeline_memory must be a multiple of 512 MiB between 2 and 8 GiB per vCPU of pipeline_cpu."
  }
}

variable "pipeline_min_tasks" {
  type        = number
  description = "Minimum (and initial) number of pipeline tasks."

  validation {
    condition     = var.pipeline_min_tasks >= 1 && floor(var.pipeline_min_tasks) == var.pipeline_min_tasks
    error_message = "pipeline_min_tasks must be a whole number, at least 1."
  }
}

variable "pipeline_max_tasks" {
  type        = number
  description = "Maximum number of pipeline tasks; the stack also caps it at the stream's open shard count."

  validation {
    condition     = var.pipeline_max_tasks >= var.pipeline_min_tasks && floor(var.pipeline_max_tasks) == var.pipeline_max_tasks
    error_message = "pipeline_max_tasks must be a whole number, at least pipeline_min_tasks."
  }
}

variable "sagemaker_instance_type" {
  type        = string
  description = "Instance type of the scoring endpoint's variants, e.g. ml.c5.xlarge."

  validation {
    condition     = can(regex("^ml\\.[a-z0-9]+\\.[a-z0-9]+$", var.sagemaker_instance_type))
    error_message = "sagemaker_instance_type must be a SageMaker instance type such as ml.m5.large."
  }
}

variable "sagemaker_min_instances" {
  type        = number
  description = "Minimum (and initial) instance count of each variant."

  validation {
    condition     = var.sagemaker_min_instances >= 1 && floor(var.sagemaker_min_instances) == var.sagemaker_min_instances
    error_message = "sagemaker_min_instances must be a whole number, at least 1."
  }
}

variable "sagemaker_max_instances" {
  type        = number
  description = "Maximum instance count of each variant under autoscaling."

  validation {
    condition     = var.sagemaker_max_instances >= var.sagemaker_min_instances && floor(var.sagemaker_max_instances) == var.sagemaker_max_instances
    error_message = "sagemaker_max_instances must be a whole number, at least sagemaker_min_instances."
  }
}

variable "invocations_per_instance_target" {
  type        = number
  description = "SageMakerVariantInvocationsPerInstance (per minute) the endpoint autoscaling keeps."

  validation {
    condition     = var.invocations_per_instance_target > 0
    error_message = "invocations_per_instance_target must be positive."
  }
}

variable "slack_reserved_concurrency" {
  type        = number
  description = "Reserved concurrency of the Slack formatter Lambda (caps the posting rate toward Slack)."

  validation {
    condition     = var.slack_reserved_concurrency >= 1 && floor(var.slack_reserved_concurrency) == var.slack_reserved_concurrency
    error_message = "slack_reserved_concurrency must be a whole number, at least 1."
  }
}

variable "iterator_age_scale_out_ms" {
  type        = number
  description = "Kinesis iterator age (ms) above which the pipeline service scales out."

  validation {
    condition     = var.iterator_age_scale_out_ms >= 1000
    error_message = "iterator_age_scale_out_ms must be at least 1000."
  }
}

variable "iterator_age_alarm_ms" {
  type        = number
  description = "Kinesis iterator age (ms) above which, for 5 minutes, the lag alarm fires; above the scale-out target, so that scaling gets a chance first."

  validation {
    condition     = var.iterator_age_alarm_ms > var.iterator_age_scale_out_ms
    error_message = "iterator_age_alarm_ms must be greater than iterator_age_scale_out_ms."
  }
}

variable "scorer_error_threshold" {
  type        = number
  description = "Scorer errors per 5 minutes above which (2 of 3 periods) the scorer alarm fires."

  validation {
    condition     = var.scorer_error_threshold >= 0
    error_message = "scorer_error_threshold must not be negative."
  }
}

variable "log_retention_in_days" {
  type        = number
  description = "Retention of the log groups, in days."
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_in_days) && var.log_retention_in_days >= 365
    error_message = "log_retention_in_days must be a retention CloudWatch Logs accepts, at least 365 (one year of audit trail)."
  }
}

variable "scored_events_expiration_days" {
  type        = number
  description = "Age in days at which scored events are deleted (after the IA and Glacier IR transitions at 30 and 90 days)."

  validation {
    condition     = var.scored_events_expiration_days > 90 && floor(var.scored_events_expiration_days) == var.scored_events_expiration_days
    error_message = "scored_events_expiration_days must be a whole number above 90 (the Glacier Instant Retrieval transition)."
  }
}

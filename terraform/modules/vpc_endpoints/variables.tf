variable "name_prefix" {
  type        = string
  description = "Prefix of the security group and endpoint Name tags, e.g. fraud-prod."

  validation {
    condition     = can(regex("^[a-zA-Z0-9-]{1,40}$", var.name_prefix))
    error_message = "name_prefix must be 1-40 letters, digits or '-'."
  }
}

variable "vpc_id" {
  type        = string
  description = "VPC the endpoints are created in (the VPC of the pipeline tasks)."

  validation {
    condition     = can(regex("^vpc-[0-9a-f]{8,17}$", var.vpc_id))
    error_message = "vpc_id must look like vpc-0123456789abcdef0."
  }
}

variable "subnet_ids" {
  type        = list(string)
  description = "Private subnets that get an interface endpoint network interface, at most one per Availability Zone (the tasks' subnets)."

  validation {
    condition     = length(var.subnet_ids) >= 1 && alltrue([for s in var.subnet_ids : can(regex("^subnet-[0-9a-f]{8,17}$", s))])
    error_message = "Give at least one subnet id (subnet-...)."
  }
}

variable "route_table_ids" {
  type        = list(string)
  description = "Route tables of the private subnets; the S3 and DynamoDB gateway endpoints add their prefix-list routes to them. They must not already have an S3 or DynamoDB gateway endpoint."

  validation {
    condition     = length(var.route_table_ids) >= 1 && alltrue([for r in var.route_table_ids : can(regex("^rtb-[0-9a-f]{8,17}$", r))])
    error_message = "Give at least one route table id (rtb-...)."
  }
}

variable "client_security_group_ids" {
  type        = map(string)
  description = "Security groups allowed to reach the interface endpoints on 443, by a static label (e.g. pipeline_tasks => the tasks' group)."
  default     = {}
}

variable "interface_endpoints" {
  type = map(object({
    iam_prefix  = string
    private_dns = optional(bool, true)
  }))
  description = "Interface endpoints to create: service suffix of com.amazonaws.<region>.<suffix> => IAM action prefix admitted by the endpoint policy, and whether private DNS is on (DynamoDB Streams does not support it)."
  default = {
    "kinesis-streams"   = { iam_prefix = "kinesis" }
    "sns"               = { iam_prefix = "sns" }
    "sagemaker.runtime" = { iam_prefix = "sagemaker" }
    "secretsmanager"    = { iam_prefix = "secretsmanager" }
    "sts"               = { iam_prefix = "sts" }
    "logs"              = { iam_prefix = "logs" }
    "ecr.api"           = { iam_prefix = "ecr" }
    "ecr.dkr"           = { iam_prefix = "ecr" }
    "monitoring"        = { iam_prefix = "cloudwatch" }
    "dynamodb-streams"  = { iam_prefix = "dynamodb", private_dns = false }
  }

  validation {
    condition     = alltrue([for k, v in var.interface_endpoints : can(regex("^[a-z0-9][a-z0-9.-]*$", k)) && can(regex("^[a-z0-9-]+$", v.iam_prefix))])
    error_message = "Keys must be endpoint service suffixes (e.g. kinesis-streams) and iam_prefix an IAM service prefix (e.g. kinesis)."
  }

  validation {
    condition     = length(setintersection(keys(var.interface_endpoints), ["s3", "dynamodb"])) == 0
    error_message = "s3 and dynamodb are always gateway endpoints; do not list them as interface endpoints."
  }
}

variable "tags" {
  type        = map(string)
  description = "Tags for the endpoints and the security group."
  default     = {}
}

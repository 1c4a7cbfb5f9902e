# Account-specific inputs of this environment (values in terraform.tfvars; see terraform.tfvars.example).
# They are passed unchanged to modules/stack, which validates them.

variable "aws_region" {
  type        = string
  description = "AWS region of the deployment (the transactions stream must be in it)."
}

variable "transactions_stream_name" {
  type        = string
  description = "Name of the existing Kinesis stream of raw transactions."
  default     = "transactions"
}

variable "pipeline_name" {
  type        = string
  description = "Pipeline name used as the Pipeline dimension of the host's FraudPipeline metrics (must match the spec)."
  default     = "fraud-scoring"
}

variable "pipeline_spec_key" {
  type        = string
  description = "Key of the pipeline spec in the artifacts bucket, uploaded by the release job."
  default     = "pipelines/fraud-scoring.json"
}

variable "vpc_id" {
  type        = string
  description = "VPC for the pipeline tasks and the VPC endpoints."
}

variable "private_subnet_ids" {
  type        = list(string)
  description = "Private subnets (one per Availability Zone, no NAT needed) for the pipeline tasks and the interface endpoints."
}

variable "private_route_table_ids" {
  type        = list(string)
  description = "Route tables of those subnets, for the S3 and DynamoDB gateway endpoints."
}

variable "admin_ingress_cidr_blocks" {
  type        = list(string)
  description = "Private networks allowed to scrape the host's admin port."
  default     = []
}

variable "pipeline_image_uri" {
  type        = string
  description = "Image with the pipeline-host binary, in ECR, pinned by digest."
}

variable "spec_fetch_image_uri" {
  type        = string
  description = "AWS CLI image that fetches the spec, mirrored into ECR, pinned by digest."
}

variable "model_server_image_uri" {
  type        = string
  description = "Image of the model-server (SageMaker container contract), pinned by digest."
}

variable "ecr_repository_arns" {
  type        = list(string)
  description = "ECR repositories of the pipeline-host, spec-fetch and model-server images."
}

variable "model_variants" {
  type = map(object({
    version = string
    weight  = number
  }))
  description = "Production variants of the scoring endpoint: variant name => model bundle version (models/<version>/model.tar.gz) and traffic weight."
}

variable "slack_formatter_zip_path" {
  type        = string
  description = "Path of the Lambda zip built by the project (bootstrap + pipeline-host + pipelines/lambda-slack.json)."
}

variable "alarm_emails" {
  type        = list(string)
  description = "Email addresses subscribed to the ops alarms topic."
  default     = []
}

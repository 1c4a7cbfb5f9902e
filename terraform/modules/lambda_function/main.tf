# The Slack formatter: `pipeline-host lambda` packaged as a custom-runtime (provided.al2023) zip whose
# `bootstrap` starts the host in Lambda mode with the spec pipelines/lambda-slack.json. It is subscribed to
# the alerts topic; SNS invokes it asynchronously, so failed events go (after Lambda's own retries) to an
# SQS dead-letter queue encrypted with its own customer managed key. Reserved concurrency keeps it under
# Slack's posting rate limits.
#
# Code signing: the zip is uploaded to the (versioned) artifacts bucket, signed there by an AWS Signer job
# with this function's signing profile, and the function is deployed from the signed copy. Its code signing
# configuration enforces that profile, so Lambda rejects any package that profile did not sign (for example
# one uploaded with `aws lambda update-function-code` outside this module).

terraform {
  required_version = ">= 1.9.0"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.100.0, < 6.0.0"
    }
  }
}

data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  partition = data.aws_partition.current.partition
  region    = data.aws_region.current.name
  code_key  = "lambda/${var.function_name}"
}

# ---------------------------------------------------------------------------------------- dead-letter queue

# The queue holds alerts (transaction ids, scores, reasons) that could not be delivered: same protection as
# the alerts topic, a customer managed key of its own.
module "dlq_key" {
  source                  = "../kms_key"
  alias                   = "${var.function_name}-dlq"
  description             = "Encryption of the ${var.function_name} dead-letter queue"
  deletion_window_in_days = var.kms_deletion_window_in_days
  tags                    = var.tags
}

resource "aws_sqs_queue" "dlq" {
  name                              = "${var.function_name}-dlq"
  message_retention_seconds         = 1209600 # 14 days, the SQS maximum: time to inspect and redrive.
  kms_master_key_id                 = module.dlq_key.key_arn
  kms_data_key_reuse_period_seconds = 300
  tags                              = merge(var.tags, { Name = "${var.function_name}-dlq" })
}

data "aws_iam_policy_document" "dlq" {
  statement {
    sid    = "DenyInsecureTransport"
    effect = "Deny"
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    actions   = ["sqs:*"]
    resources = [aws_sqs_queue.dlq.arn]
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_sqs_queue_policy" "dlq" {
  queue_url = aws_sqs_queue.dlq.id
  policy    = data.aws_iam_policy_document.dlq.json
}

# ------------------------------------------------------------------------------------------------- IAM

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "this" {
  name               = "${var.function_name}-role"
  assume_role_policy = data.aws_iam_policy_document.assume.json
  tags               = var.tags
}

data "aws_iam_policy_document" "this" {
  statement {
    sid       = "WriteOwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${var.log_group_arn}:*"]
  }

  statement {
    sid       = "ReadSlackSecret"
    actions   = ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"]
    resources = [var.slack_secret_arn]
  }

  statement {
    sid       = "DecryptSlackSecret"
    actions   = ["kms:Decrypt"]
    resources = [var.slack_secret_kms_key_arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["secretsmanager.${local.region}.amazonaws.com"]
    }
  }

  statement {
    sid       = "SendFailedEventsToDeadLetterQueue"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.dlq.arn]
  }

  statement {
    sid       = "EncryptDeadLettersThroughSqs"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [module.dlq_key.key_arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["sqs.${local.region}.amazonaws.com"]
    }
  }

  # X-Ray trace segments have no resource-level permissions; these two actions only write telemetry.
  statement {
    sid       = "WriteTraces"
    actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
    resources = ["*"]
  }
}

resource "aws_iam_role_policy" "this" {
  name   = "${var.function_name}-least-privilege"
  role   = aws_iam_role.this.id
  policy = data.aws_iam_policy_document.this.json
}

# ------------------------------------------------------------------------------------------ code signing

# Signer profile names allow only letters, digits and '_'; name_prefix gives each profile a unique name
# (a cancelled profile's name cannot be used again).
resource "aws_signer_signing_profile" "this" {
  name_prefix = "${substr(replace(var.function_name, "-", "_"), 0, 30)}_"
  platform_id = "AWSLambda-SHA384-ECDSA"

  signature_validity_period {
    value = var.signature_validity_months
    type  = "MONTHS"
  }

  tags = var.tags
}

resource "aws_lambda_code_signing_config" "this" {
  description = "Only packages signed by the ${var.function_name} signing profile may be deployed."

  allowed_publishers {
    signing_profile_version_arns = [aws_signer_signing_profile.this.version_arn]
  }

  policies {
    untrusted_artifact_on_deployment = "Enforce"
  }
}

resource "aws_s3_object" "unsigned" {
  bucket      = var.artifacts_bucket_name
  key         = "${local.code_key}/unsigned.zip"
  source      = var.zip_path
  source_hash = filemd5(var.zip_path)
  kms_key_id  = var.artifacts_kms_key_arn
  tags        = var.tags
}

# A new zip is a new object version, which replaces this job and so signs the new package.
resource "aws_signer_signing_job" "this" {
  profile_name = aws_signer_signing_profile.this.name

  source {
    s3 {
      bucket  = aws_s3_object.unsigned.bucket
      key     = aws_s3_object.unsigned.key
      version = aws_s3_object.unsigned.version_id
    }
  }

  destination {
    s3 {
      bucket = var.artifacts_bucket_name
      prefix = "${local.code_key}/signed/"
    }
  }

  ignore_signing_job_failure = false
}

# ------------------------------------------------------------------------------------------- function

resource "aws_lambda_function" "this" {
  #checkov:skip=CKV_AWS_117:The function only calls Slack and AWS public endpoints; attaching it to the VPC would need NAT egress to reach Slack and adds nothing to isolation.
  #checkov:skip=CKV_AWS_173:The environment holds only the secret ARN, the spec path and the log level, no secret values; the Lambda-managed key is sufficient.
  function_name                  = var.function_name
  description                    = "Formats fraud alerts from SNS as Slack Block Kit messages (pipeline-host lambda)."
  role                           = aws_iam_role.this.arn
  runtime                        = "provided.al2023"
  handler                        = "bootstrap"
  architectures                  = [var.architecture]
  s3_bucket                      = aws_signer_signing_job.this.signed_object[0].s3[0].bucket
  s3_key                         = aws_signer_signing_job.this.signed_object[0].s3[0].key
  code_signing_config_arn        = aws_lambda_code_signing_config.this.arn
  memory_size                    = var.memory_size
  timeout                        = var.timeout_seconds
  reserved_concurrent_executions = var.reserved_concurrency

  environment {
    variables = merge(var.environment, {
      SLACK_SECRET_ARN = var.slack_secret_arn
      PIPELINE_SPEC    = var.spec_path
    })
  }

  dead_letter_config {
    target_arn = aws_sqs_queue.dlq.arn
  }

  tracing_config {
    mode = "Active"
  }

  logging_config {
    log_format = "Text"
    log_group  = var.log_group_name
  }

  tags = merge(var.tags, { Name = var.function_name })

  depends_on = [aws_iam_role_policy.this]
}

resource "aws_lambda_function_event_invoke_config" "this" {
  function_name                = aws_lambda_function.this.function_name
  maximum_retry_attempts       = 2
  maximum_event_age_in_seconds = var.maximum_event_age_seconds
}

resource "aws_lambda_permission" "sns" {
  statement_id  = "AllowInvokeFromAlertsTopic"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.this.function_name
  principal     = "sns.amazonaws.com"
  source_arn    = var.alerts_topic_arn
}

resource "aws_sns_topic_subscription" "this" {
  topic_arn = var.alerts_topic_arn
  protocol  = "lambda"
  endpoint  = aws_lambda_function.this.arn

  depends_on = [aws_lambda_permission.sns]
}

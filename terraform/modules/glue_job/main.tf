# Hourly refresh of user_demographics: a Glue Python shell job running glue/user_demographics_refresh.py,
# which reads the newest snapshot under source_s3_uri and upserts it into the table in batches of 25. The
# schedule lives in the eventbridge module.

terraform {
  required_version = ">= 1.9.0"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.100.0, < 6.0.0"
    }
  }
}

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.name
  account_id = data.aws_caller_identity.current.account_id

  script_key     = "glue/${var.job_name}/${basename(var.script_path)}"
  source_bucket  = split("/", trimprefix(var.source_s3_uri, "s3://"))[0]
  source_prefix  = trimprefix(trimprefix(var.source_s3_uri, "s3://${local.source_bucket}"), "/")
  log_group_arns = "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:/aws-glue/*"
}

resource "aws_s3_object" "script" {
  bucket      = var.artifacts_bucket_name
  key         = local.script_key
  source      = var.script_path
  source_hash = filemd5(var.script_path)
  kms_key_id  = var.artifacts_kms_key_arn
  tags        = var.tags
}

resource "aws_glue_security_configuration" "this" {
  name = "${var.job_name}-security"

  encryption_configuration {
    cloudwatch_encryption {
      cloudwatch_encryption_mode = "SSE-KMS"
      kms_key_arn                = var.logs_kms_key_arn
    }
    job_bookmarks_encryption {
      job_bookmarks_encryption_mode = "CSE-KMS"
      kms_key_arn                   = var.artifacts_kms_key_arn
    }
    s3_encryption {
      s3_encryption_mode = "SSE-KMS"
      kms_key_arn        = var.artifacts_kms_key_arn
    }
  }
}

# ------------------------------------------------------------------------------------------------- IAM

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["glue.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "this" {
  name               = "${var.job_name}-role"
  assume_role_policy = data.aws_iam_policy_document.assume.json
  tags               = var.tags
}

data "aws_iam_policy_document" "this" {
  statement {
    sid       = "ReadJobScript"
    actions   = ["s3:GetObject"]
    resources = ["arn:${local.partition}:s3:::${var.artifacts_bucket_name}/${local.script_key}"]
  }

  statement {
    sid       = "ListSnapshots"
    actions   = ["s3:ListBucket"]
    resources = ["arn:${local.partition}:s3:::${local.source_bucket}"]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${local.source_prefix}*"]
    }
  }

  statement {
    sid       = "ReadSnapshots"
    actions   = ["s3:GetObject"]
    resources = ["arn:${local.partition}:s3:::${local.source_bucket}/${local.source_prefix}*"]
  }

  statement {
    sid       = "UseArtifactsKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = distinct(compact([var.artifacts_kms_key_arn, var.source_kms_key_arn]))
  }

  statement {
    sid       = "UpsertUserDemographics"
    actions   = ["dynamodb:BatchWriteItem", "dynamodb:PutItem", "dynamodb:DescribeTable"]
    resources = [var.table_arn]
  }

  statement {
    sid       = "UseTableKeyThroughDynamoDB"
    actions   = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey*", "kms:DescribeKey"]
    resources = [var.table_kms_key_arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["dynamodb.${local.region}.amazonaws.com"]
    }
  }

  statement {
    sid = "WriteJobLogs"
    actions = [
      "logs:CreateLogGroup",
      "logs:CreateLogStream",
      "logs:PutLogEvents",
      "logs:AssociateKmsKey",
    ]
    resources = [local.log_group_arns, "${local.log_group_arns}:log-stream:*"]
  }
}

resource "aws_iam_role_policy" "this" {
  name   = "${var.job_name}-least-privilege"
  role   = aws_iam_role.this.id
  policy = data.aws_iam_policy_document.this.json
}

# ------------------------------------------------------------------------------------------------- job

resource "aws_glue_job" "this" {
  name                   = var.job_name
  description            = "Upserts the newest user_demographics snapshot from ${var.source_s3_uri} into ${var.table_name}."
  role_arn               = aws_iam_role.this.arn
  max_capacity           = var.max_capacity
  max_retries            = var.max_retries
  timeout                = var.timeout_minutes
  security_configuration = aws_glue_security_configuration.this.name

  command {
    name            = "pythonshell"
    python_version  = "3.9"
    script_location = "s3://${var.artifacts_bucket_name}/${aws_s3_object.script.key}"
  }

  default_arguments = {
    "--job-language"     = "python"
    "--source_uri"       = var.source_s3_uri
    "--table_name"       = var.table_name
    "--max_reject_ratio" = tostring(var.max_reject_ratio)
    "--region"           = local.region
  }

  execution_property {
    max_concurrent_runs = 1
  }

  tags = merge(var.tags, { Name = var.job_name })

  depends_on = [aws_iam_role_policy.this]
}

# The deployment's S3 buckets:
#   artifacts     - model bundles (models/vN/model.tar.gz), pipeline specs, the Glue script, the Lambda zip
#                   and the user_demographics exports; versioned so any deployed artifact can be recovered.
#   checkpoints   - pipeline host state snapshots; old versions expire quickly.
#   scored_events - scored transactions for Athena (Hive-style partitions); tiered to cheaper storage.
#   access_logs   - S3 server access logs of the three buckets above.
# All data buckets use SSE-KMS with one customer managed key and S3 Bucket Keys, block public access,
# enforce bucket-owner object ownership and deny requests that are not TLS 1.2+.

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

locals {
  account_id = data.aws_caller_identity.current.account_id
  log_bucket = "${var.name_prefix}-s3-access-logs-${local.account_id}"
}

module "key" {
  source                  = "../kms_key"
  alias                   = "${var.name_prefix}-s3"
  description             = "SSE-KMS for the ${var.name_prefix} artifacts, checkpoints and scored-events buckets"
  deletion_window_in_days = var.kms_deletion_window_in_days
  tags                    = var.tags
}

# ------------------------------------------------------------------------------------------- data buckets
# One child module call per bucket (rather than for_each) so that static analysis resolves every bucket.

module "artifacts" {
  source                             = "./bucket"
  name                               = "${var.name_prefix}-artifacts-${local.account_id}"
  kms_key_arn                        = module.key.key_arn
  access_logs_bucket                 = aws_s3_bucket.access_logs.id
  access_logs_prefix                 = "artifacts/"
  noncurrent_version_expiration_days = var.artifacts_noncurrent_version_expiration_days
  tags                               = merge(var.tags, { Purpose = "artifacts" })
}

module "checkpoints" {
  source                             = "./bucket"
  name                               = "${var.name_prefix}-checkpoints-${local.account_id}"
  kms_key_arn                        = module.key.key_arn
  access_logs_bucket                 = aws_s3_bucket.access_logs.id
  access_logs_prefix                 = "checkpoints/"
  noncurrent_version_expiration_days = var.checkpoints_noncurrent_version_expiration_days
  tags                               = merge(var.tags, { Purpose = "checkpoints" })
}

module "scored_events" {
  source                             = "./bucket"
  name                               = "${var.name_prefix}-scored-events-${local.account_id}"
  kms_key_arn                        = module.key.key_arn
  access_logs_bucket                 = aws_s3_bucket.access_logs.id
  access_logs_prefix                 = "scored-events/"
  noncurrent_version_expiration_days = 30
  tiering = {
    transition_to_ia_days         = var.scored_events_transition_to_ia_days
    transition_to_glacier_ir_days = var.scored_events_transition_to_glacier_ir_days
    expiration_days               = var.scored_events_expiration_days
  }
  tags = merge(var.tags, { Purpose = "scored_events" })
}

locals {
  data_buckets = {
    artifacts     = module.artifacts
    checkpoints   = module.checkpoints
    scored_events = module.scored_events
  }
}

# ------------------------------------------------------------------------------------- access log bucket

resource "aws_s3_bucket" "access_logs" {
  #checkov:skip=CKV_AWS_18:This is the server access log destination; logging it into itself would loop.
  #checkov:skip=CKV_AWS_144:Access logs are kept in-region for audit; cross-region copies are not required.
  #checkov:skip=CKV2_AWS_62:Nothing consumes object-created events for access logs.
  #checkov:skip=CKV_AWS_145:S3 server access logging can only deliver to buckets encrypted with SSE-S3 (AES256), not SSE-KMS.
  bucket        = local.log_bucket
  force_destroy = false
  tags          = merge(var.tags, { Name = local.log_bucket, Purpose = "access_logs" })
}

resource "aws_s3_bucket_ownership_controls" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "access_logs" {
  bucket                  = aws_s3_bucket.access_logs.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id

  rule {
    id     = "expire-access-logs"
    status = "Enabled"
    filter {}
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
    transition {
      days          = 30
      storage_class = "STANDARD_IA"
    }
    expiration {
      days = var.access_logs_expiration_days
    }
    noncurrent_version_expiration {
      noncurrent_days = 7
    }
  }

  depends_on = [aws_s3_bucket_versioning.access_logs]
}

data "aws_iam_policy_document" "access_logs" {
  statement {
    sid     = "S3ServerAccessLogDelivery"
    actions = ["s3:PutObject"]
    principals {
      type        = "Service"
      identifiers = ["logging.s3.amazonaws.com"]
    }
    resources = ["${aws_s3_bucket.access_logs.arn}/*"]
    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = [for b in local.data_buckets : b.arn]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }

  statement {
    sid     = "DenyInsecureTransport"
    effect  = "Deny"
    actions = ["s3:*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    resources = [aws_s3_bucket.access_logs.arn, "${aws_s3_bucket.access_logs.arn}/*"]
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id
  policy = data.aws_iam_policy_document.access_logs.json

  depends_on = [aws_s3_bucket_public_access_block.access_logs]
}

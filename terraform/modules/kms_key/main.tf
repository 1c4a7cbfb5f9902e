# A customer managed KMS key with rotation and an explicit key policy. The other modules call this one so
# that every key in the deployment has the same administration model:
#   - the account (through IAM policies) administers the key and may be granted its use; nothing else does
#     unless a service statement below names an AWS service principal, actions and conditions;
#   - no statement uses a wildcard principal.

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

locals {
  account_root = "arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root"
}

data "aws_iam_policy_document" "key" {
  #checkov:skip=CKV_AWS_109:Key policy: the only valid Resource is "*", meaning this key; administration is limited to the owning account.
  #checkov:skip=CKV_AWS_111:Key policy: the only valid Resource is "*", meaning this key; write access is limited to the owning account and named service principals.
  #checkov:skip=CKV_AWS_356:Key policy: the only valid Resource is "*", meaning this key, not every resource.
  statement {
    sid = "AccountAdministersKeyAndDelegatesUseToIam"
    principals {
      type        = "AWS"
      identifiers = [local.account_root]
    }
    # The administrative actions of the default key policy, spelled out instead of kms:*, plus the
    # cryptographic actions so that IAM policies in the account can grant key use to specific roles.
    actions = [
      "kms:CancelKeyDeletion",
      "kms:Create*",
      "kms:Delete*",
      "kms:Describe*",
      "kms:Disable*",
      "kms:Enable*",
      "kms:Get*",
      "kms:List*",
      "kms:Put*",
      "kms:Revoke*",
      "kms:ScheduleKeyDeletion",
      "kms:TagResource",
      "kms:UntagResource",
      "kms:Update*",
      "kms:Decrypt",
      "kms:Encrypt",
      "kms:GenerateDataKey*",
      "kms:ReEncrypt*",
    ]
    resources = ["*"]
  }

  dynamic "statement" {
    for_each = var.service_statements
    content {
      sid = statement.value.sid
      principals {
        type        = "Service"
        identifiers = [statement.value.service]
      }
      actions   = statement.value.actions
      resources = ["*"]
      dynamic "condition" {
        for_each = statement.value.conditions
        content {
          test     = condition.value.test
          variable = condition.value.variable
          values   = condition.value.values
        }
      }
    }
  }
}

resource "aws_kms_key" "this" {
  description             = var.description
  enable_key_rotation     = true
  rotation_period_in_days = var.rotation_period_in_days
  deletion_window_in_days = var.deletion_window_in_days
  policy                  = data.aws_iam_policy_document.key.json
  tags                    = var.tags
}

resource "aws_kms_alias" "this" {
  name          = "alias/${var.alias}"
  target_key_id = aws_kms_key.this.key_id
}

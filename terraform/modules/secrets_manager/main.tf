# Secrets Manager secrets (the Slack webhook URL and bot token) encrypted with a customer managed key.
# Terraform creates only the secret containers: values are put out of band
#   aws secretsmanager put-secret-value --secret-id <arn> --secret-string '{"webhook_url":"…","bot_token":"xoxb-…"}'
# so that no secret value ever lands in Terraform state or in the repository.

terraform {
  required_version = ">= 1.9.0"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.100.0, < 6.0.0"
    }
  }
}

module "key" {
  source                  = "../kms_key"
  alias                   = "${var.name_prefix}-secrets"
  description             = "Encryption of the ${var.name_prefix} Secrets Manager secrets"
  deletion_window_in_days = var.kms_deletion_window_in_days
  tags                    = var.tags
}

resource "aws_secretsmanager_secret" "this" {
  #checkov:skip=CKV2_AWS_57:Slack webhook URLs and bot tokens are issued by Slack and cannot be rotated by a rotation Lambda; they are rotated by hand following the runbook in the module README.
  for_each                = var.secrets
  name                    = "${var.name_prefix}/${each.key}"
  description             = each.value
  kms_key_id              = module.key.key_arn
  recovery_window_in_days = var.recovery_window_in_days
  tags                    = merge(var.tags, { Name = "${var.name_prefix}/${each.key}" })
}

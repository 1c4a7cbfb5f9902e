# Secrets Manager secrets (the Slack webhook URL, or bot token) encrypted with a customer managed key.
# Terraform creates only the secret containers: values are put out of band
#   aws secretsmanager put-secret-value --secret-id <arn> --secret-string '{"webhook_url":"https://hooks.slack.com/services/…"}'
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
  #checkov:skip=CKV2_AWS_57:No rotation function could mint a new value. The Slack formatter runs in webhook mode (SLACK_MODE unset) and Slack has no API that issues or regenerates an incoming-webhook URL (a workspace member creates it in the app settings or through an interactive OAuth install). A bot token for token mode is likewise issued only by an app install unless the app has Slack token rotation on; then a rotation Lambda calling oauth.v2.access with the refresh token would work (the host re-reads the secret every 5 minutes and on token_expired) but it is not built. Rotation is manual, per the runbook in README.md.
  for_each                = var.secrets
  name                    = "${var.name_prefix}/${each.key}"
  description             = each.value
  kms_key_id              = module.key.key_arn
  recovery_window_in_days = var.recovery_window_in_days
  tags                    = merge(var.tags, { Name = "${var.name_prefix}/${each.key}" })
}

# Private access to the AWS APIs the pipeline host uses, so that its tasks need no route and no security group
# rule to the internet:
#   - gateway endpoints for S3 and DynamoDB on the private subnets' route tables (their prefix lists are what
#     the tasks' security group allows on 443);
#   - interface endpoints (private DNS on, so the default regional host names resolve to them) for the other
#     services, in the private subnets, behind one security group that accepts HTTPS only from the client
#     security groups (the tasks);
#   - DynamoDB Streams, whose interface endpoint does not support private DNS: clients must be pointed at the
#     endpoint's own DNS name (output interface_endpoint_dns_names, e.g. AWS_ENDPOINT_URL_DYNAMODB_STREAMS).
# Every endpoint policy admits only principals of this account (aws:PrincipalAccount), so that a compromised
# task cannot use credentials of another account to copy data out through the endpoints. The S3 policy also
# admits reads of the ECR layer bucket, which image pulls go to with URLs signed by ECR itself.

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
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.name

  gateway_endpoints = {
    s3       = { iam_prefix = "s3" }
    dynamodb = { iam_prefix = "dynamodb" }
  }
}

# ------------------------------------------------------------------------------------------- security group

resource "aws_security_group" "endpoints" {
  name_prefix = "${var.name_prefix}-vpc-endpoints-"
  description = "Interface VPC endpoints of ${var.name_prefix}: HTTPS in from the client security groups only, nothing out."
  vpc_id      = var.vpc_id
  tags        = merge(var.tags, { Name = "${var.name_prefix}-vpc-endpoints" })

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "https_from_clients" {
  for_each                     = var.client_security_group_ids
  security_group_id            = aws_security_group.endpoints.id
  description                  = "HTTPS from ${each.key}"
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
  referenced_security_group_id = each.value
  tags                         = var.tags
}

# ------------------------------------------------------------------------------------------------ policies

data "aws_iam_policy_document" "endpoint" {
  for_each = merge(local.gateway_endpoints, var.interface_endpoints)

  statement {
    sid = "PrincipalsOfThisAccountOnly"
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    actions   = ["${each.value.iam_prefix}:*"]
    resources = ["*"]
    condition {
      test     = "StringEquals"
      variable = "aws:PrincipalAccount"
      values   = [local.account_id]
    }
  }

  # Image layers: ECR answers BatchGetImage/GetDownloadUrlForLayer with URLs into this AWS-owned bucket, signed
  # by ECR, so the request's principal is not in this account.
  dynamic "statement" {
    for_each = each.key == "s3" ? [1] : []
    content {
      sid = "EcrImageLayers"
      principals {
        type        = "*"
        identifiers = ["*"]
      }
      actions   = ["s3:GetObject"]
      resources = ["arn:${local.partition}:s3:::prod-${local.region}-starport-layer-bucket/*"]
    }
  }
}

# ---------------------------------------------------------------------------------------------- endpoints

resource "aws_vpc_endpoint" "gateway" {
  for_each          = local.gateway_endpoints
  vpc_id            = var.vpc_id
  service_name      = "com.amazonaws.${local.region}.${each.key}"
  vpc_endpoint_type = "Gateway"
  route_table_ids   = var.route_table_ids
  policy            = data.aws_iam_policy_document.endpoint[each.key].json
  tags              = merge(var.tags, { Name = "${var.name_prefix}-${each.key}" })
}

resource "aws_vpc_endpoint" "interface" {
  for_each            = var.interface_endpoints
  vpc_id              = var.vpc_id
  service_name        = "com.amazonaws.${local.region}.${each.key}"
  vpc_endpoint_type   = "Interface"
  subnet_ids          = var.subnet_ids
  security_group_ids  = [aws_security_group.endpoints.id]
  private_dns_enabled = each.value.private_dns
  policy              = data.aws_iam_policy_document.endpoint[each.key].json
  tags                = merge(var.tags, { Name = "${var.name_prefix}-${each.key}" })
}

# The realtime scoring endpoint. Each production variant has its own SageMaker model (the project's
# model-server image plus a models/vN/model.tar.gz bundle); traffic is split by the variants' weights
# (A/B: weight / sum of weights), and the pipeline host can pin a variant with X-Amzn-SageMaker-Target-Variant.
# Each variant scales on invocations per instance.

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

  variants = { for v in var.variants : v.name => v }

  # s3://bucket/key -> arn:aws:s3:::bucket/key: the role may read exactly the bundles it serves.
  model_object_arns = distinct([
    for v in var.variants : "arn:${local.partition}:s3:::${trimprefix(v.model_data_url, "s3://")}"
  ])
}

module "key" {
  source                  = "../kms_key"
  alias                   = "${var.name}-sagemaker"
  description             = "ML storage volume encryption for SageMaker endpoint ${var.name}"
  deletion_window_in_days = var.kms_deletion_window_in_days
  tags                    = var.tags
}

# ------------------------------------------------------------------------------------------------- IAM

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["sagemaker.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "this" {
  name               = "${var.name}-sagemaker-execution"
  assume_role_policy = data.aws_iam_policy_document.assume.json
  tags               = var.tags
}

data "aws_iam_policy_document" "this" {
  statement {
    sid       = "ReadModelBundles"
    actions   = ["s3:GetObject"]
    resources = local.model_object_arns
  }

  statement {
    sid       = "DecryptModelBundles"
    actions   = ["kms:Decrypt"]
    resources = [var.artifacts_kms_key_arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["s3.${local.region}.amazonaws.com"]
    }
  }

  dynamic "statement" {
    for_each = length(var.ecr_repository_arns) > 0 ? [1] : []
    content {
      sid       = "PullModelServerImage"
      actions   = ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]
      resources = var.ecr_repository_arns
    }
  }

  # ecr:GetAuthorizationToken has no resource-level permissions; it only returns a registry login token.
  dynamic "statement" {
    for_each = length(var.ecr_repository_arns) > 0 ? [1] : []
    content {
      sid       = "GetRegistryToken"
      actions   = ["ecr:GetAuthorizationToken"]
      resources = ["*"]
    }
  }

  statement {
    sid = "WriteEndpointLogs"
    actions = [
      "logs:CreateLogGroup",
      "logs:CreateLogStream",
      "logs:DescribeLogStreams",
      "logs:PutLogEvents",
    ]
    resources = [
      "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:/aws/sagemaker/Endpoints/${var.name}",
      "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:/aws/sagemaker/Endpoints/${var.name}:log-stream:*",
    ]
  }

  # PutMetricData has no resource-level permissions; the condition limits it to SageMaker's namespaces.
  statement {
    sid       = "PublishEndpointMetrics"
    actions   = ["cloudwatch:PutMetricData"]
    resources = ["*"]
    condition {
      test     = "StringLike"
      variable = "cloudwatch:namespace"
      values   = ["/aws/sagemaker/*"]
    }
  }
}

resource "aws_iam_role_policy" "this" {
  name   = "${var.name}-sagemaker-least-privilege"
  role   = aws_iam_role.this.id
  policy = data.aws_iam_policy_document.this.json
}

# ------------------------------------------------------------------------------------- models, endpoint

resource "aws_sagemaker_model" "variant" {
  for_each = local.variants

  # A new image or bundle makes a new model (and endpoint configuration); the endpoint then switches over
  # with SageMaker's blue/green update, and the old ones are deleted afterwards.
  name                     = substr("${var.name}-${each.key}-${substr(sha1("${each.value.image_uri}|${each.value.model_data_url}"), 0, 8)}", 0, 63)
  execution_role_arn       = aws_iam_role.this.arn
  enable_network_isolation = true

  primary_container {
    image          = each.value.image_uri
    model_data_url = each.value.model_data_url
    environment    = var.container_environment
  }

  dynamic "vpc_config" {
    for_each = length(var.subnet_ids) > 0 ? [1] : []
    content {
      subnets            = var.subnet_ids
      security_group_ids = var.security_group_ids
    }
  }

  tags = merge(var.tags, { Variant = each.key })

  lifecycle {
    create_before_destroy = true
  }

  depends_on = [aws_iam_role_policy.this]
}

resource "aws_sagemaker_endpoint_configuration" "this" {
  name_prefix = "${substr(var.name, 0, 37)}-"
  kms_key_arn = module.key.key_arn

  dynamic "production_variants" {
    for_each = local.variants
    content {
      variant_name           = production_variants.key
      model_name             = aws_sagemaker_model.variant[production_variants.key].name
      instance_type          = production_variants.value.instance_type
      initial_instance_count = production_variants.value.initial_instance_count
      initial_variant_weight = production_variants.value.weight
    }
  }

  tags = var.tags

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_sagemaker_endpoint" "this" {
  name                 = var.name
  endpoint_config_name = aws_sagemaker_endpoint_configuration.this.name
  tags                 = merge(var.tags, { Name = var.name })
}

# ----------------------------------------------------------------------------------------- autoscaling

resource "aws_appautoscaling_target" "variant" {
  for_each           = local.variants
  service_namespace  = "sagemaker"
  resource_id        = "endpoint/${aws_sagemaker_endpoint.this.name}/variant/${each.key}"
  scalable_dimension = "sagemaker:variant:DesiredInstanceCount"
  min_capacity       = each.value.min_capacity
  max_capacity       = each.value.max_capacity
}

resource "aws_appautoscaling_policy" "invocations" {
  for_each           = local.variants
  name               = "${var.name}-${each.key}-invocations-per-instance"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.variant[each.key].service_namespace
  resource_id        = aws_appautoscaling_target.variant[each.key].resource_id
  scalable_dimension = aws_appautoscaling_target.variant[each.key].scalable_dimension

  target_tracking_scaling_policy_configuration {
    target_value       = var.invocations_per_instance_target
    scale_in_cooldown  = 300
    scale_out_cooldown = 60

    predefined_metric_specification {
      predefined_metric_type = "SageMakerVariantInvocationsPerInstance"
    }
  }
}

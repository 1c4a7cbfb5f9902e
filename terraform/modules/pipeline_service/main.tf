# The pipeline host on ECS Fargate (replaces the Managed Flink application of the original design).
#
# Each task runs two containers:
#   spec-fetch    - the AWS CLI; copies the pipeline spec from S3 or an SSM parameter into a task-local
#                   volume, then exits 0;
#   pipeline-host - starts once spec-fetch succeeded: `pipeline-host run /spec/pipeline.json`, admin HTTP
#                   server (/metrics, /health, /ready) on admin_port.
# Tasks share the stream's shards through the KCL-style lease table, so the useful task count is at most
# the number of open shards. The service scales out on Kinesis iterator age and in/out on CPU.

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
  partition = data.aws_partition.current.partition
  region    = data.aws_region.current.name

  spec_from_s3  = var.spec_s3_uri != null
  spec_path     = "/spec/pipeline.json"
  spec_s3_arn   = local.spec_from_s3 ? "arn:${local.partition}:s3:::${trimprefix(var.spec_s3_uri, "s3://")}" : null
  spec_fetch_sh = local.spec_from_s3 ? "aws s3 cp \"$SPEC_S3_URI\" ${local.spec_path} --only-show-errors" : "aws ssm get-parameter --with-decryption --name \"$SPEC_SSM_PARAMETER\" --query Parameter.Value --output text > ${local.spec_path}"

  via = { for s in ["kinesis", "dynamodb", "s3", "sns", "ssm"] : s => "${s}.${local.region}.amazonaws.com" }
}

# ------------------------------------------------------------------------------------------ networking

# No rule of this group reaches the internet: HTTPS goes only to the VPC interface endpoints' security group, the
# S3 and DynamoDB gateway endpoints' prefix lists and, if given, extra private CIDR blocks (variable validation
# refuses any /0). Terraform removes the allow-all egress rule AWS adds to a new group, and rules are separate
# resources so that the endpoint group and this one can reference each other.
resource "aws_security_group" "this" {
  name_prefix = "${var.name}-tasks-"
  description = "Pipeline host tasks: HTTPS out to VPC endpoints only, admin port in from the monitoring networks only."
  vpc_id      = var.vpc_id

  tags = merge(var.tags, { Name = "${var.name}-tasks" })

  lifecycle {
    create_before_destroy = true

    precondition {
      condition     = length(var.egress_security_group_ids) + length(var.egress_prefix_list_ids) + length(var.egress_cidr_blocks) > 0
      error_message = "Give at least one egress destination (the VPC endpoints' security group, the gateway endpoints' prefix lists or private CIDR blocks); the tasks cannot reach AWS otherwise."
    }
  }
}

resource "aws_vpc_security_group_egress_rule" "https_to_security_groups" {
  for_each                     = var.egress_security_group_ids
  security_group_id            = aws_security_group.this.id
  description                  = "HTTPS to ${each.key}"
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
  referenced_security_group_id = each.value
  tags                         = var.tags
}

resource "aws_vpc_security_group_egress_rule" "https_to_prefix_lists" {
  for_each          = var.egress_prefix_list_ids
  security_group_id = aws_security_group.this.id
  description       = "HTTPS to the ${each.key} gateway endpoint"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  prefix_list_id    = each.value
  tags              = var.tags
}

resource "aws_vpc_security_group_egress_rule" "https_to_cidr_blocks" {
  for_each          = toset(var.egress_cidr_blocks)
  security_group_id = aws_security_group.this.id
  description       = "HTTPS to ${each.value}"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = each.value
  tags              = var.tags
}

resource "aws_vpc_security_group_ingress_rule" "admin" {
  for_each          = toset(var.admin_ingress_cidr_blocks)
  security_group_id = aws_security_group.this.id
  description       = "Admin HTTP (/metrics, /health, /ready) from ${each.value}"
  ip_protocol       = "tcp"
  from_port         = var.admin_port
  to_port           = var.admin_port
  cidr_ipv4         = each.value
  tags              = var.tags
}

# ------------------------------------------------------------------------------------------------- IAM

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

# Execution role: used by the ECS agent to pull images and ship logs, never by the application.
resource "aws_iam_role" "execution" {
  name               = "${var.name}-execution"
  assume_role_policy = data.aws_iam_policy_document.assume.json
  tags               = var.tags
}

data "aws_iam_policy_document" "execution" {
  statement {
    sid       = "ShipContainerLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${var.log_group_arn}:*"]
  }

  dynamic "statement" {
    for_each = length(var.ecr_repository_arns) > 0 ? [1] : []
    content {
      sid       = "PullImages"
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
}

resource "aws_iam_role_policy" "execution" {
  name   = "${var.name}-execution"
  role   = aws_iam_role.execution.id
  policy = data.aws_iam_policy_document.execution.json
}

# Task role: what the pipeline host (and the spec fetcher) may do.
resource "aws_iam_role" "task" {
  name               = "${var.name}-task"
  assume_role_policy = data.aws_iam_policy_document.assume.json
  tags               = var.tags
}

data "aws_iam_policy_document" "task" {
  # --- source: the transactions stream (polling, and enhanced fan-out if the spec enables it)
  statement {
    sid = "ReadTransactionsStream"
    actions = [
      "kinesis:DescribeStream",
      "kinesis:DescribeStreamSummary",
      "kinesis:GetRecords",
      "kinesis:GetShardIterator",
      "kinesis:ListShards",
      "kinesis:ListStreamConsumers",
      "kinesis:RegisterStreamConsumer",
    ]
    resources = [var.kinesis_stream_arn]
  }

  statement {
    sid       = "EnhancedFanOutConsumers"
    actions   = ["kinesis:DescribeStreamConsumer", "kinesis:SubscribeToShard"]
    resources = ["${var.kinesis_stream_arn}/consumer/*"]
  }

  dynamic "statement" {
    for_each = var.kinesis_kms_key_arn == null ? [] : [var.kinesis_kms_key_arn]
    content {
      sid       = "DecryptTransactionsStream"
      actions   = ["kms:Decrypt"]
      resources = [statement.value]
      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = [local.via.kinesis]
      }
    }
  }

  # --- shard leases and checkpoints (KCL-style lease table)
  statement {
    sid = "LeaseTable"
    actions = [
      "dynamodb:DeleteItem",
      "dynamodb:DescribeTable",
      "dynamodb:GetItem",
      "dynamodb:PutItem",
      "dynamodb:Query",
      "dynamodb:Scan",
      "dynamodb:UpdateItem",
    ]
    resources = [var.lease_table_arn]
  }

  # --- broadcast join: initial scan of user_demographics, then its stream
  statement {
    sid       = "ReadUserDemographics"
    actions   = ["dynamodb:DescribeTable", "dynamodb:GetItem", "dynamodb:Query", "dynamodb:Scan"]
    resources = [var.reference_table_arn]
  }

  statement {
    sid       = "FollowUserDemographicsStream"
    actions   = ["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"]
    resources = ["${var.reference_table_arn}/stream/*"]
  }

  statement {
    sid       = "UseTableKeysThroughDynamoDB"
    actions   = ["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey*"]
    resources = distinct([var.lease_table_kms_key_arn, var.reference_table_kms_key_arn])
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = [local.via.dynamodb]
    }
  }

  # --- scoring
  statement {
    sid       = "InvokeScoringEndpoint"
    actions   = ["sagemaker:InvokeEndpoint"]
    resources = [var.sagemaker_endpoint_arn]
  }

  # --- alerts
  statement {
    sid       = "PublishAlerts"
    actions   = ["sns:Publish"]
    resources = [var.alerts_topic_arn]
  }

  statement {
    sid       = "EncryptAlerts"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey*"]
    resources = [var.alerts_topic_kms_key_arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = [local.via.sns]
    }
  }

  # --- S3: model bundles/scaler (read), checkpoint snapshots (read/write), scored events (write)
  statement {
    sid       = "ReadModelArtifacts"
    actions   = ["s3:GetObject"]
    resources = ["${var.artifacts_bucket_arn}/models/*"]
  }

  statement {
    sid       = "ListModelArtifacts"
    actions   = ["s3:ListBucket"]
    resources = [var.artifacts_bucket_arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["models/*"]
    }
  }

  statement {
    sid       = "Checkpoints"
    actions   = ["s3:DeleteObject", "s3:GetObject", "s3:PutObject"]
    resources = ["${var.checkpoints_bucket_arn}/${var.name}/*"]
  }

  statement {
    sid       = "ListCheckpoints"
    actions   = ["s3:ListBucket"]
    resources = [var.checkpoints_bucket_arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${var.name}/*"]
    }
  }

  statement {
    sid       = "WriteScoredEvents"
    actions   = ["s3:AbortMultipartUpload", "s3:ListMultipartUploadParts", "s3:PutObject"]
    resources = ["${var.scored_events_bucket_arn}/*"]
  }

  statement {
    sid       = "UseBucketKeyThroughS3"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [var.s3_kms_key_arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = [local.via.s3]
    }
  }

  # --- the spec (read by the spec-fetch container with the task role)
  dynamic "statement" {
    for_each = local.spec_from_s3 ? [local.spec_s3_arn] : []
    content {
      sid       = "ReadSpecObject"
      actions   = ["s3:GetObject"]
      resources = [statement.value]
    }
  }

  dynamic "statement" {
    for_each = var.spec_ssm_parameter_arn == null ? [] : [var.spec_ssm_parameter_arn]
    content {
      sid       = "ReadSpecParameter"
      actions   = ["ssm:GetParameter"]
      resources = [statement.value]
    }
  }

  dynamic "statement" {
    for_each = var.spec_ssm_parameter_arn != null && var.spec_kms_key_arn != null ? [var.spec_kms_key_arn] : []
    content {
      sid       = "DecryptSpecParameter"
      actions   = ["kms:Decrypt"]
      resources = [statement.value]
      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = [local.via.ssm]
      }
    }
  }

  # --- custom metrics: PutMetricData has no resource-level permissions, so it is limited by namespace.
  statement {
    sid       = "PublishPipelineMetrics"
    actions   = ["cloudwatch:PutMetricData"]
    resources = ["*"]
    condition {
      test     = "StringEquals"
      variable = "cloudwatch:namespace"
      values   = [var.metrics_namespace]
    }
  }
}

resource "aws_iam_role_policy" "task" {
  name   = "${var.name}-task"
  role   = aws_iam_role.task.id
  policy = data.aws_iam_policy_document.task.json
}

# ------------------------------------------------------------------------------------------------- ECS

resource "aws_ecs_cluster" "this" {
  name = var.name

  setting {
    name  = "containerInsights"
    value = "enabled"
  }

  tags = merge(var.tags, { Name = var.name })
}

locals {
  log_options = {
    "awslogs-group"         = var.log_group_name
    "awslogs-region"        = local.region
    "awslogs-stream-prefix" = "ecs"
  }

  # Both containers run as the non-root user var.container_user with every Linux capability dropped and a
  # read-only root filesystem; they write only to the task-local /spec and /tmp volumes (see README.md for
  # what the images must provide so that this user can write there).
  hardening = {
    user                   = var.container_user
    privileged             = false
    readonlyRootFilesystem = true
    linuxParameters        = { capabilities = { drop = ["ALL"] } }
  }

  spec_fetch_container = merge(local.hardening, {
    name       = "spec-fetch"
    image      = var.spec_fetch_image
    essential  = false
    entryPoint = ["/bin/sh", "-c"]
    command    = ["set -eu; ${local.spec_fetch_sh}; test -s ${local.spec_path}"]
    environment = [for k, v in {
      HOME               = "/tmp"
      AWS_REGION         = local.region
      SPEC_S3_URI        = var.spec_s3_uri
      SPEC_SSM_PARAMETER = var.spec_ssm_parameter_arn
    } : { name = k, value = v } if v != null]
    mountPoints = [
      { sourceVolume = "spec", containerPath = "/spec", readOnly = false },
      { sourceVolume = "scratch", containerPath = "/tmp", readOnly = false },
    ]
    logConfiguration = { logDriver = "awslogs", options = local.log_options }
  })

  host_container = merge(local.hardening, {
    name        = "pipeline-host"
    image       = var.image_uri
    essential   = true
    entryPoint  = ["pipeline-host"]
    command     = ["run", local.spec_path]
    stopTimeout = 120 # Fargate maximum: time to flush sinks and write the final checkpoint after SIGTERM.
    dependsOn   = [{ containerName = "spec-fetch", condition = "SUCCESS" }]
    environment = [for k, v in merge(var.environment, {
      AWS_REGION = local.region
      # The admin server listens on loopback (the ECS health check runs inside the task) unless a scraper
      # outside the task is allowed in.
      ADMIN_ADDRESS = length(var.admin_ingress_cidr_blocks) > 0 ? "0.0.0.0:${var.admin_port}" : "127.0.0.1:${var.admin_port}"
    }) : { name = k, value = v }]
    portMappings = [{ containerPort = var.admin_port, protocol = "tcp", name = "admin" }]
    mountPoints = [
      { sourceVolume = "spec", containerPath = "/spec", readOnly = true },
      { sourceVolume = "scratch", containerPath = "/tmp", readOnly = false },
    ]
    # `pipeline-host health` GETs /health at ADMIN_ADDRESS (above; a 0.0.0.0 host is probed on 127.0.0.1) and exits
    # 0 on HTTP 200. The image (Dockerfile.pipeline-host) has no curl.
    healthCheck = {
      command     = ["CMD", "/usr/local/bin/pipeline-host", "health"]
      interval    = 15
      timeout     = 5
      retries     = 3
      startPeriod = 60
    }
    logConfiguration = { logDriver = "awslogs", options = local.log_options }
  })
}

resource "aws_ecs_task_definition" "this" {
  family                   = var.name
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.cpu
  memory                   = var.memory
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.task.arn
  container_definitions    = jsonencode([local.spec_fetch_container, local.host_container])

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = var.cpu_architecture
  }

  volume {
    name = "spec"
  }

  volume {
    name = "scratch"
  }

  tags = var.tags

  lifecycle {
    precondition {
      condition     = (var.spec_s3_uri == null) != (var.spec_ssm_parameter_arn == null)
      error_message = "Set exactly one of spec_s3_uri and spec_ssm_parameter_arn."
    }
  }
}

# The service must not start tasks before the network they need exists (with no internet egress, a task that
# starts before the VPC endpoints are available fails, and on a first deployment the circuit breaker would
# then give up). A module-level depends_on would be a cycle (the endpoints' security group refers to this
# module's), so the caller passes the endpoint ids and the service waits on them through this resource.
resource "terraform_data" "network_dependencies" {
  input = var.network_dependencies
}

resource "aws_ecs_service" "this" {
  name                               = var.name
  cluster                            = aws_ecs_cluster.this.id
  task_definition                    = aws_ecs_task_definition.this.arn
  desired_count                      = var.min_capacity
  launch_type                        = "FARGATE"
  platform_version                   = "LATEST"
  enable_execute_command             = false
  enable_ecs_managed_tags            = true
  propagate_tags                     = "SERVICE"
  deployment_minimum_healthy_percent = 100
  deployment_maximum_percent         = 200
  wait_for_steady_state              = false

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  network_configuration {
    subnets          = var.subnet_ids
    security_groups  = [aws_security_group.this.id]
    assign_public_ip = false
  }

  tags = merge(var.tags, { Name = var.name })

  lifecycle {
    # Autoscaling owns the task count after the first apply.
    ignore_changes = [desired_count]
  }

  depends_on = [aws_iam_role_policy.task, aws_iam_role_policy.execution, terraform_data.network_dependencies]
}

# ----------------------------------------------------------------------------------------- autoscaling

resource "aws_appautoscaling_target" "this" {
  service_namespace  = "ecs"
  resource_id        = "service/${aws_ecs_cluster.this.name}/${aws_ecs_service.this.name}"
  scalable_dimension = "ecs:service:DesiredCount"
  min_capacity       = var.min_capacity
  max_capacity       = var.max_capacity
}

resource "aws_appautoscaling_policy" "cpu" {
  name               = "${var.name}-cpu"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.this.service_namespace
  resource_id        = aws_appautoscaling_target.this.resource_id
  scalable_dimension = aws_appautoscaling_target.this.scalable_dimension

  target_tracking_scaling_policy_configuration {
    target_value       = var.cpu_target_percent
    scale_in_cooldown  = 300
    scale_out_cooldown = 60

    predefined_metric_specification {
      predefined_metric_type = "ECSServiceAverageCPUUtilization"
    }
  }
}

# Lag drives scale-out only: when the oldest unread record gets old, add tasks (up to max_capacity, which
# should not exceed the open shard count). Scale-in is left to the CPU policy, so a drained backlog does not
# immediately remove the tasks that drained it.
resource "aws_appautoscaling_policy" "iterator_age" {
  name               = "${var.name}-iterator-age"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.this.service_namespace
  resource_id        = aws_appautoscaling_target.this.resource_id
  scalable_dimension = aws_appautoscaling_target.this.scalable_dimension

  target_tracking_scaling_policy_configuration {
    target_value       = var.iterator_age_target_ms
    disable_scale_in   = true
    scale_out_cooldown = 120

    customized_metric_specification {
      namespace   = "AWS/Kinesis"
      metric_name = "GetRecords.IteratorAgeMilliseconds"
      statistic   = "Maximum"
      unit        = "Milliseconds"

      dimensions {
        name  = "StreamName"
        value = var.kinesis_stream_name
      }
    }
  }
}

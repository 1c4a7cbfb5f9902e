output "log_group_names" {
  description = "Log group names by component (the keys of var.log_groups)."
  value       = { for k, g in aws_cloudwatch_log_group.this : k => g.name }
}

output "log_group_arns" {
  description = "Log group ARNs by component (without the trailing :*)."
  value       = { for k, g in aws_cloudwatch_log_group.this : k => g.arn }
}

output "logs_kms_key_arn" {
  description = "ARN of the key that encrypts the log groups (also usable by other log groups of this account, e.g. Glue's)."
  value       = module.logs_key.key_arn
}

output "alarm_arns" {
  description = "ARNs of the alarms."
  value       = local.alarm_arns
}

output "dashboard_name" {
  description = "Name of the CloudWatch dashboard."
  value       = aws_cloudwatch_dashboard.this.dashboard_name
}

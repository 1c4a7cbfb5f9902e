output "schedule_arn" {
  description = "ARN of the schedule."
  value       = aws_scheduler_schedule.this.arn
}

output "schedule_group_name" {
  description = "Name of the schedule group."
  value       = aws_scheduler_schedule_group.this.name
}

output "role_arn" {
  description = "ARN of the role the scheduler assumes to start the job."
  value       = aws_iam_role.this.arn
}

output "dlq_arn" {
  description = "ARN of the queue receiving schedule invocations that failed after retries."
  value       = aws_sqs_queue.dlq.arn
}

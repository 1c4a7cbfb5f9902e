output "job_name" {
  description = "Name of the Glue job."
  value       = aws_glue_job.this.name
}

output "job_arn" {
  description = "ARN of the Glue job."
  value       = aws_glue_job.this.arn
}

output "role_arn" {
  description = "ARN of the job's IAM role."
  value       = aws_iam_role.this.arn
}

output "script_s3_uri" {
  description = "Where the job script was uploaded."
  value       = "s3://${var.artifacts_bucket_name}/${aws_s3_object.script.key}"
}

output "function_name" {
  description = "Name of the function."
  value       = aws_lambda_function.this.function_name
}

output "function_arn" {
  description = "ARN of the function."
  value       = aws_lambda_function.this.arn
}

output "role_arn" {
  description = "ARN of the function's execution role."
  value       = aws_iam_role.this.arn
}

output "dlq_arn" {
  description = "ARN of the dead-letter queue for events that failed all attempts."
  value       = aws_sqs_queue.dlq.arn
}

output "dlq_name" {
  description = "Name of the dead-letter queue."
  value       = aws_sqs_queue.dlq.name
}

output "dlq_kms_key_arn" {
  description = "ARN of the key that encrypts the dead-letter queue (readers and redrivers need kms:Decrypt on it)."
  value       = module.dlq_key.key_arn
}

output "signing_profile_arn" {
  description = "ARN of the AWS Signer profile whose signatures the function's code signing configuration accepts."
  value       = aws_signer_signing_profile.this.arn
}

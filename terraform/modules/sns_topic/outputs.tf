output "topic_arn" {
  description = "ARN of the topic."
  value       = aws_sns_topic.this.arn
}

output "topic_name" {
  description = "Name of the topic."
  value       = aws_sns_topic.this.name
}

output "kms_key_arn" {
  description = "ARN of the key that encrypts the topic; publishers need kms:GenerateDataKey and kms:Decrypt on it."
  value       = module.key.key_arn
}

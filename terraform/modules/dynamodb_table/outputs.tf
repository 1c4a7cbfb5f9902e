output "table_name" {
  description = "Name of the table."
  value       = aws_dynamodb_table.this.name
}

output "table_arn" {
  description = "ARN of the table."
  value       = aws_dynamodb_table.this.arn
}

output "stream_arn" {
  description = "ARN of the table's latest stream, or null when streams are off."
  value       = var.stream_view_type == null ? null : aws_dynamodb_table.this.stream_arn
}

output "kms_key_arn" {
  description = "ARN of the customer managed key that encrypts the table (readers and writers need kms:Decrypt / kms:GenerateDataKey via DynamoDB)."
  value       = module.key.key_arn
}

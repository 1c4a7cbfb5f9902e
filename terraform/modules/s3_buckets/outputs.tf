output "bucket_names" {
  description = "Bucket names by purpose: artifacts, checkpoints, scored_events."
  value       = { for k, b in local.data_buckets : k => b.name }
}

output "bucket_arns" {
  description = "Bucket ARNs by purpose: artifacts, checkpoints, scored_events."
  value       = { for k, b in local.data_buckets : k => b.arn }
}

output "access_logs_bucket_name" {
  description = "Name of the bucket that receives S3 server access logs."
  value       = aws_s3_bucket.access_logs.bucket
}

output "kms_key_arn" {
  description = "ARN of the key that encrypts the data buckets; readers need kms:Decrypt and writers kms:GenerateDataKey on it."
  value       = module.key.key_arn
}

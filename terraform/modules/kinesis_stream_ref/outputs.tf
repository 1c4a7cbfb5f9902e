output "stream_name" {
  description = "Name of the transactions stream."
  value       = data.aws_kinesis_stream.this.name
}

output "stream_arn" {
  description = "ARN of the transactions stream."
  value       = data.aws_kinesis_stream.this.arn
}

output "open_shard_count" {
  description = "Number of open shards; the useful upper bound for consumer tasks."
  value       = length(data.aws_kinesis_stream.this.open_shards)
}

output "stream_mode" {
  description = "Capacity mode of the stream (PROVISIONED or ON_DEMAND)."
  value       = try(data.aws_kinesis_stream.this.stream_mode_details[0].stream_mode, "PROVISIONED")
}

output "kms_key_arn" {
  description = "ARN of the KMS key that encrypts the stream, or null when the stream is not encrypted."
  value       = try(data.aws_kms_key.stream[0].arn, null)
}

# Looks up the transactions stream that the producers already write to. The stream is owned by another
# team/stack, so this module only reads it and exposes what consumers need (ARN, shard count, KMS key).

terraform {
  required_version = ">= 1.9.0"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.100.0, < 6.0.0"
    }
  }
}

data "aws_kinesis_stream" "this" {
  name = var.stream_name
}

# The stream's kms_key_id may be a key id, a key ARN or an alias (alias/aws/kinesis for the AWS managed key);
# resolve it to a key ARN so that consumer IAM policies can name it.
data "aws_kms_key" "stream" {
  count  = data.aws_kinesis_stream.this.encryption_type == "KMS" ? 1 : 0
  key_id = data.aws_kinesis_stream.this.kms_key_id
}

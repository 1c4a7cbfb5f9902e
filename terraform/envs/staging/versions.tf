terraform {
  required_version = ">= 1.9.0"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.100.0, < 6.0.0"
    }
  }

  # Partial configuration: bucket, key, region and use_lockfile/dynamodb_table come from
  # `terraform init -backend-config=backend.hcl` (see terraform/README.md).
  backend "s3" {}
}

provider "aws" {
  region = var.aws_region

  default_tags {
    tags = {
      Project     = "fraud-pipeline"
      Environment = "prod"
      ManagedBy   = "terraform"
    }
  }
}

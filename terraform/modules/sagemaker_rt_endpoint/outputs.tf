output "endpoint_name" {
  description = "Name of the endpoint (InvokeEndpoint path /endpoints/<name>/invocations)."
  value       = aws_sagemaker_endpoint.this.name
}

output "endpoint_arn" {
  description = "ARN of the endpoint, for sagemaker:InvokeEndpoint policies."
  value       = aws_sagemaker_endpoint.this.arn
}

output "endpoint_config_name" {
  description = "Name of the current endpoint configuration."
  value       = aws_sagemaker_endpoint_configuration.this.name
}

output "variant_names" {
  description = "Names of the production variants (values for X-Amzn-SageMaker-Target-Variant)."
  value       = keys(local.variants)
}

output "execution_role_arn" {
  description = "ARN of the role SageMaker uses to pull the image and bundles."
  value       = aws_iam_role.this.arn
}

output "kms_key_arn" {
  description = "ARN of the key that encrypts the endpoint's ML storage volumes."
  value       = module.key.key_arn
}

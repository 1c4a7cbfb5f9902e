output "secret_arns" {
  description = "Secret ARNs by short name."
  value       = { for k, s in aws_secretsmanager_secret.this : k => s.arn }
}

output "secret_names" {
  description = "Secret names by short name."
  value       = { for k, s in aws_secretsmanager_secret.this : k => s.name }
}

output "kms_key_arn" {
  description = "ARN of the key that encrypts the secrets; readers need kms:Decrypt on it (via secretsmanager)."
  value       = module.key.key_arn
}

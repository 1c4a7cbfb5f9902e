output "security_group_id" {
  description = "Security group of the interface endpoints (allow HTTPS to it from the clients)."
  value       = aws_security_group.endpoints.id
}

output "gateway_prefix_list_ids" {
  description = "Prefix lists of the gateway endpoints: s3 and dynamodb => pl-... (allow HTTPS to them from the clients)."
  value       = { for k, e in aws_vpc_endpoint.gateway : k => e.prefix_list_id }
}

output "interface_endpoint_ids" {
  description = "Interface endpoint ids by service suffix."
  value       = { for k, e in aws_vpc_endpoint.interface : k => e.id }
}

output "interface_endpoint_dns_names" {
  description = "Regional DNS name of each interface endpoint by service suffix (needed for services without private DNS, i.e. dynamodb-streams)."
  value       = { for k, e in aws_vpc_endpoint.interface : k => e.dns_entry[0].dns_name }
}

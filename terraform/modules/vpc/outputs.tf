output "vpc_id" {
  description = "The VPC."
  value       = aws_vpc.this.id
}

output "private_subnet_ids" {
  description = "The private subnets, one per zone: where the nodes run."
  value       = aws_subnet.private[*].id
}

output "public_subnet_ids" {
  description = "The public subnets, one per zone: internet-facing load balancers."
  value       = aws_subnet.public[*].id
}

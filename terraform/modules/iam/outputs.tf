output "role_arns" {
  description = "Each IRSA role's ARN, by name: the service accounts' eks.amazonaws.com/role-arn."
  value       = { for name, role in aws_iam_role.this : name => role.arn }
}

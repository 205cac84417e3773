output "bucket_names" {
  description = "Each signal's bucket name."
  value       = { for signal, bucket in aws_s3_bucket.this : signal => bucket.bucket }
}

output "bucket_arns" {
  description = "Each signal's bucket ARN (the IAM policies are scoped to them)."
  value       = { for signal, bucket in aws_s3_bucket.this : signal => bucket.arn }
}

output "kms_key_arn" {
  description = "The key the buckets are encrypted with (the IRSA roles may use it)."
  value       = aws_kms_key.buckets.arn
}

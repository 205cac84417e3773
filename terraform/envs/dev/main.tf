# The dev environment's AWS foundation. Its state is in S3, locked there (use_lockfile); run it
# through `invoke infra.plan|apply|destroy|output dev`, which checks first that the
# credentials are account 111111111111 (config/environments.yaml, aws:).

terraform {
  required_version = ">= 1.11"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 6.0"
    }
  }
  backend "s3" {
    bucket       = "mirante-tfstate-111111111111"
    key          = "dev/foundation.tfstate"
    region       = "eu-west-1"
    use_lockfile = true # S3-native locking (Terraform >= 1.10): no lock table
    encrypt      = true
  }
}

provider "aws" {
  region              = "eu-west-1"
  allowed_account_ids = ["111111111111"]
  default_tags {
    tags = { "mirante.io/env" = "dev" }
  }
}

module "foundation" {
  source = "../../modules/foundation"
  env    = "dev"
  tags   = { project = "mirante" }

  vpc_cidr                = "10.10.0.0/16"
  zones                   = ["eu-west-1a", "eu-west-1b"]
  single_nat_gateway      = true
  flow_log_retention_days = 30

  kubernetes_version = "1.33"
  # Who reaches the API: it is private to the VPC. Name the VPN or bastion networks that
  # run k8s.install (api_allowed_cidrs), and the IAM roles of the operators and of CI
  # (access entries); the cluster's creator is an admin anyway. public_access_cidrs opens
  # the public endpoint to the ranges it names (0.0.0.0/0 is refused).
  public_access_cidrs              = []
  api_allowed_cidrs                = []
  operator_role_arns               = []
  ci_role_arns                     = []
  control_plane_log_retention_days = 30
  observability_namespace          = "monitoring"
  app_namespace                    = "mirante-dev"
  monitoring_nodes = {
    instance_types = ["m6i.large"]
    min            = 1
    max            = 3
    desired        = 2
    disk_gib       = 50
  }
  app_nodes = {
    instance_types = ["t3.large"]
    min            = 1
    max            = 2
    desired        = 1
    disk_gib       = 30
  }

  # dev keeps logs and traces on the pods' volumes (config/environments.yaml has no
  # storage: for it): no bucket and no role for Loki or Tempo.
  object_storage = false
  retention_days = {
    metrics = 4
    backups = 31
  }
  bucket_suffix             = "" # the account id: bucket names are global to S3
  noncurrent_days           = 7
  access_log_retention_days = 90
}

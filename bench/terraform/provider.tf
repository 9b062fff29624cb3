# The AWS provider, pointed at the bench's moto (through its counting proxy): fake credentials, no
# account or credential lookups, path-style S3. Pinned to the version bench/terraform.mjs finds in
# its filesystem mirror (no network).

terraform {
  required_version = ">= 1.5"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "5.100.0"
    }
  }
}

variable "endpoint" {
  type        = string
  description = "Every AWS service's endpoint: the moto server (or the proxy in front of it)."
}

provider "aws" {
  region                      = "us-east-1"
  access_key                  = "testing"
  secret_key                  = "testing"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  skip_region_validation      = true
  s3_use_path_style           = true
  endpoints {
    autoscaling = var.endpoint
    cloudwatch  = var.endpoint
    ec2         = var.endpoint
    elbv2       = var.endpoint
    iam         = var.endpoint
    s3          = var.endpoint
    sns         = var.endpoint
    sts         = var.endpoint
  }
  default_tags {
    tags = { project = "clock-app-ha", stack = var.prefix }
  }
}

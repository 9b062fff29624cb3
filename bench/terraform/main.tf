# The clock-app-ha stack of examples/clock-app-ha.yaml in Terraform, for bench/terraform.mjs: the same
# resources, settings and names as reconcile makes from that spec, `copies` times over, like
# bench/gen-spec.mjs (copy i: names suffixed -i, bucket <prefix>-artifacts-i, VPC 10.i.0.0/16 and its
# subnets 10.i.1.0/24 and 10.i.2.0/24). The provider talks to the bench's moto only (provider.tf).
#
# Resource for resource (reconcile kind -> Terraform resources):
#   vpc                -> aws_vpc (DNS support and hostnames on: reconcile's defaults)
#   subnet x2          -> aws_subnet x2
#   internet-gateway   -> aws_internet_gateway (create + attach, as reconcile does)
#   route-table        -> aws_route_table (its route inline) + aws_route_table_association x2
#   security-group x2  -> aws_security_group x2, rules inline. Terraform revokes the allow-all egress
#                         rule AWS makes with a group and authorizes it again from the config;
#                         reconcile leaves AWS's default egress alone (the spec sets none).
#   s3-bucket          -> aws_s3_bucket + _versioning + _server_side_encryption_configuration (AES256)
#                         + _public_access_block (all four on) + _lifecycle_configuration + aws_s3_object
#                         (reconcile also keeps the keys it uploaded in a bucket tag; Terraform keeps
#                         them in its state)
#   iam-role           -> aws_iam_role + aws_iam_role_policy (the inline policy)
#   instance-profile   -> aws_iam_instance_profile
#   launch-template    -> data.aws_ami + aws_launch_template. keepVersions (delete versions older than
#                         the newest 5) has no Terraform equivalent; it only matters on updates.
#   auto-scaling-group -> aws_autoscaling_group + aws_autoscaling_notification + aws_autoscaling_policy
#                         (target tracking on ASGAverageCPUUtilization). Terraform waits for the
#                         group's desired capacity after creating it (its default,
#                         wait_for_capacity_timeout = 10m); reconcile does not wait for instances.
#   load-balancer      -> aws_lb
#   target-group       -> aws_lb_target_group
#   listener           -> aws_lb_listener
#   sns-topic          -> aws_sns_topic + aws_sns_topic_subscription (email)
#   cloudwatch-alarm x2-> aws_cloudwatch_metric_alarm x2
# The example has no dashboard. Tags: reconcile tags every resource with the spec's tags (project)
# and its ownership tags (reconcile:stack, reconcile:id); here default_tags carries project and a
# stack tag, and EC2 resources get a Name tag as reconcile gives them.
# 29 resources and one data source per copy, where reconcile has 18 resources (28 on moto, where the
# bench leaves out the notification configuration: see asg_notifications).

variable "copies" {
  type        = number
  default     = 1
  description = "How many copies of the stack (1..250)."
  validation {
    condition     = var.copies >= 1 && var.copies <= 250
    error_message = "copies must be 1..250."
  }
}

variable "prefix" {
  type        = string
  default     = "tf-clock"
  description = "Stack name: prefixes every AWS name, so the copies of two runs never collide."
}

variable "asg_notifications" {
  type        = bool
  default     = true
  description = "Whether to make the Auto Scaling notification configuration. bench/terraform.mjs sets false: moto does not implement PutNotificationConfiguration (it answers 500, which the provider retries without end); reconcile calls it once, warns and goes on."
}

variable "app_file" {
  type        = string
  default     = "../../examples/files/app.py"
  description = "The app the bucket holds (examples/files/app.py)."
}

locals {
  copies = toset([for i in range(1, var.copies + 1) : tostring(i)])
  stack  = var.prefix
  # Names as reconcile gives them: <stack>-<name> where the spec sets none, the spec's own otherwise.
  name   = { for i in local.copies : i => "${local.stack}-%s-${i}" }
  bucket = { for i in local.copies : i => "${local.stack}-artifacts-${i}" }
  # "<copy>-a" and "<copy>-b": the subnets (and their route table associations) of every copy.
  subnets = { for p in setproduct(local.copies, ["a", "b"]) : "${p[0]}-${p[1]}" => { copy = p[0], az = p[1], net = p[1] == "a" ? 1 : 2 } }
}

# ---- Network ---------------------------------------------------------------------------------------

resource "aws_vpc" "vpc" {
  for_each             = local.copies
  cidr_block           = "10.${each.key}.0.0/16"
  enable_dns_support   = true
  enable_dns_hostnames = true
  tags                 = { Name = format(local.name[each.key], "vpc") }
}

# The two public subnets of each copy, one per AZ: a in 10.<i>.1.0/24, b in 10.<i>.2.0/24.
resource "aws_subnet" "public" {
  for_each                = local.subnets
  vpc_id                  = aws_vpc.vpc[each.value.copy].id
  cidr_block              = "10.${each.value.copy}.${each.value.net}.0/24"
  availability_zone       = "us-east-1${each.value.az}"
  map_public_ip_on_launch = true
  tags                    = { Name = format(local.name[each.value.copy], "public-${each.value.az}") }
}

resource "aws_internet_gateway" "igw" {
  for_each = local.copies
  vpc_id   = aws_vpc.vpc[each.key].id
  tags     = { Name = format(local.name[each.key], "igw") }
}

resource "aws_route_table" "public_rt" {
  for_each = local.copies
  vpc_id   = aws_vpc.vpc[each.key].id
  route {
    cidr_block = "0.0.0.0/0"
    gateway_id = aws_internet_gateway.igw[each.key].id
  }
  tags = { Name = format(local.name[each.key], "public-rt") }
}

resource "aws_route_table_association" "public" {
  for_each       = local.subnets
  subnet_id      = aws_subnet.public[each.key].id
  route_table_id = aws_route_table.public_rt[each.value.copy].id
}

# ---- Security groups -------------------------------------------------------------------------------

resource "aws_security_group" "alb_sg" {
  for_each    = local.copies
  name        = format(local.name[each.key], "alb-sg")
  description = "clock-app ALB - HTTP from anywhere"
  vpc_id      = aws_vpc.vpc[each.key].id
  ingress {
    description = "HTTP"
    protocol    = "tcp"
    from_port   = 80
    to_port     = 80
    cidr_blocks = ["0.0.0.0/0"]
  }
  # AWS's default rule, which reconcile leaves in place (Terraform removes it unless it is declared).
  egress {
    protocol    = "-1"
    from_port   = 0
    to_port     = 0
    cidr_blocks = ["0.0.0.0/0"]
  }
  tags = { Name = format(local.name[each.key], "alb-sg") }
}

resource "aws_security_group" "app_sg" {
  for_each    = local.copies
  name        = format(local.name[each.key], "app-sg")
  description = "clock-app instances - the app port from the ALB only"
  vpc_id      = aws_vpc.vpc[each.key].id
  ingress {
    description     = "Flask from the load balancer"
    protocol        = "tcp"
    from_port       = 5000
    to_port         = 5000
    security_groups = [aws_security_group.alb_sg[each.key].id]
  }
  egress {
    protocol    = "-1"
    from_port   = 0
    to_port     = 0
    cidr_blocks = ["0.0.0.0/0"]
  }
  tags = { Name = format(local.name[each.key], "app-sg") }
}

# ---- The app's bucket ------------------------------------------------------------------------------

resource "aws_s3_bucket" "artifacts" {
  for_each      = local.copies
  bucket        = local.bucket[each.key]
  force_destroy = true
}

resource "aws_s3_bucket_versioning" "artifacts" {
  for_each = local.copies
  bucket   = aws_s3_bucket.artifacts[each.key].id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "artifacts" {
  for_each = local.copies
  bucket   = aws_s3_bucket.artifacts[each.key].id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_public_access_block" "artifacts" {
  for_each                = local.copies
  bucket                  = aws_s3_bucket.artifacts[each.key].id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_lifecycle_configuration" "artifacts" {
  for_each = local.copies
  bucket   = aws_s3_bucket.artifacts[each.key].id
  rule {
    id     = "expire-logs"
    status = "Enabled"
    filter {
      prefix = "logs/"
    }
    expiration {
      days = 30
    }
  }
}

resource "aws_s3_object" "app" {
  for_each     = local.copies
  bucket       = aws_s3_bucket.artifacts[each.key].id
  key          = "app/app.py"
  source       = var.app_file
  source_hash  = filesha256(var.app_file)
  content_type = "text/x-python"
  # Uploaded once versioning is on, as the provider's docs advise (and as reconcile orders it). Without
  # it the object may be written first, as version "null", which moto then fails to delete: destroy
  # with force_destroy retries DeleteBucket (BucketNotEmpty) until its 60 min timeout.
  depends_on = [aws_s3_bucket_versioning.artifacts]
}

# ---- The instances' identity -------------------------------------------------------------------

resource "aws_iam_role" "app_role" {
  for_each = local.copies
  name     = format(local.name[each.key], "app-role")
  assume_role_policy = jsonencode({
    Version   = "2012-10-17"
    Statement = [{ Effect = "Allow", Principal = { Service = "ec2.amazonaws.com" }, Action = "sts:AssumeRole" }]
  })
}

resource "aws_iam_role_policy" "read_app" {
  for_each = local.copies
  name     = "read-app"
  role     = aws_iam_role.app_role[each.key].id
  policy = jsonencode({
    Version   = "2012-10-17"
    Statement = [{ Effect = "Allow", Action = "s3:GetObject", Resource = "arn:aws:s3:::${local.bucket[each.key]}/app/*" }]
  })
}

resource "aws_iam_instance_profile" "app_profile" {
  for_each = local.copies
  name     = format(local.name[each.key], "app-profile")
  role     = aws_iam_role.app_role[each.key].name
}

# ---- Compute -----------------------------------------------------------------------------------

data "aws_ami" "al2023" {
  most_recent = true
  owners      = ["amazon"]
  filter {
    name   = "name"
    values = ["al2023-ami-2023.*-x86_64"]
  }
}

resource "aws_launch_template" "app_lt" {
  for_each               = local.copies
  name                   = format(local.name[each.key], "app-lt")
  image_id               = data.aws_ami.al2023.id
  instance_type          = "t3.micro"
  vpc_security_group_ids = [aws_security_group.app_sg[each.key].id]
  iam_instance_profile {
    name = aws_iam_instance_profile.app_profile[each.key].name
  }
  tags = { Name = "clock-app-template" }
  tag_specifications {
    resource_type = "instance"
    tags          = { Role = "clock-app" }
  }
  user_data = base64encode(<<-EOT
    #!/bin/bash
    set -euxo pipefail
    dnf install -y python3-pip
    pip3 install flask
    mkdir -p /opt/clock
    aws s3 cp s3://${local.bucket[each.key]}/app/app.py /opt/clock/app.py
    nohup python3 /opt/clock/app.py > /var/log/clock-app.log 2>&1 &
  EOT
  )
}

resource "aws_autoscaling_group" "app_asg" {
  for_each                  = local.copies
  name                      = format(local.name[each.key], "app-asg")
  min_size                  = 2
  max_size                  = 4
  desired_capacity          = 2
  vpc_zone_identifier       = [aws_subnet.public["${each.key}-a"].id, aws_subnet.public["${each.key}-b"].id]
  health_check_type         = "ELB"
  health_check_grace_period = 120
  target_group_arns         = [aws_lb_target_group.app_tg[each.key].arn]
  launch_template {
    id      = aws_launch_template.app_lt[each.key].id
    version = "$Latest"
  }
  tag {
    key                 = "Name"
    value               = format(local.name[each.key], "app-asg")
    propagate_at_launch = true
  }
}

resource "aws_autoscaling_notification" "app_asg" {
  for_each    = var.asg_notifications ? local.copies : toset([])
  group_names = [aws_autoscaling_group.app_asg[each.key].name]
  topic_arn   = aws_sns_topic.asg_events[each.key].arn
  notifications = [
    "autoscaling:EC2_INSTANCE_LAUNCH",
    "autoscaling:EC2_INSTANCE_TERMINATE",
    "autoscaling:EC2_INSTANCE_LAUNCH_ERROR",
    "autoscaling:EC2_INSTANCE_TERMINATE_ERROR",
  ]
}

resource "aws_autoscaling_policy" "app_cpu" {
  for_each               = local.copies
  name                   = format(local.name[each.key], "app-asg-cpu")
  autoscaling_group_name = aws_autoscaling_group.app_asg[each.key].name
  policy_type            = "TargetTrackingScaling"
  target_tracking_configuration {
    predefined_metric_specification {
      predefined_metric_type = "ASGAverageCPUUtilization"
    }
    target_value = 50
  }
}

# ---- Load balancer -----------------------------------------------------------------------------

resource "aws_lb" "alb" {
  for_each           = local.copies
  name               = "clock-app-alb-${each.key}"
  internal           = false
  load_balancer_type = "application"
  subnets            = [aws_subnet.public["${each.key}-a"].id, aws_subnet.public["${each.key}-b"].id]
  security_groups    = [aws_security_group.alb_sg[each.key].id]
}

resource "aws_lb_target_group" "app_tg" {
  for_each    = local.copies
  name        = "clock-app-tg-${each.key}"
  vpc_id      = aws_vpc.vpc[each.key].id
  protocol    = "HTTP"
  port        = 5000
  target_type = "instance"
  health_check {
    path                = "/health"
    port                = "traffic-port"
    interval            = 15
    timeout             = 5
    healthy_threshold   = 2
    unhealthy_threshold = 2
    matcher             = "200"
  }
}

resource "aws_lb_listener" "http" {
  for_each          = local.copies
  load_balancer_arn = aws_lb.alb[each.key].arn
  protocol          = "HTTP"
  port              = 80
  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.app_tg[each.key].arn
  }
}

# ---- Notifications and alarms ------------------------------------------------------------------

resource "aws_sns_topic" "asg_events" {
  for_each = local.copies
  name     = "clock-app-asg-events-${each.key}"
}

resource "aws_sns_topic_subscription" "asg_events_email" {
  for_each  = local.copies
  topic_arn = aws_sns_topic.asg_events[each.key].arn
  protocol  = "email"
  endpoint  = "ops@example.com"
}

resource "aws_cloudwatch_metric_alarm" "cpu_high" {
  for_each            = local.copies
  alarm_name          = format(local.name[each.key], "cpu-high")
  alarm_description   = "the group runs hot although it is scaling"
  namespace           = "AWS/EC2"
  metric_name         = "CPUUtilization"
  dimensions          = { AutoScalingGroupName = aws_autoscaling_group.app_asg[each.key].name }
  statistic           = "Average"
  period              = 300
  evaluation_periods  = 3
  comparison_operator = "GreaterThanThreshold"
  threshold           = 80
  treat_missing_data  = "missing"
  alarm_actions       = [aws_sns_topic.asg_events[each.key].arn]
  ok_actions          = [aws_sns_topic.asg_events[each.key].arn]
}

resource "aws_cloudwatch_metric_alarm" "status_check_failed" {
  for_each            = local.copies
  alarm_name          = format(local.name[each.key], "status-check-failed")
  alarm_description   = "an instance of the group fails its status checks"
  namespace           = "AWS/EC2"
  metric_name         = "StatusCheckFailed"
  dimensions          = { AutoScalingGroupName = aws_autoscaling_group.app_asg[each.key].name }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 2
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "missing"
  alarm_actions       = [aws_sns_topic.asg_events[each.key].arn]
}

"""The REST API Gateway in front of the data services, built from the OpenAPI catalog."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from infra.config import CLOUDWATCH_RETENTION_DAYS
from infra.iam import allow, policy_json, service_trust
from infra.openapi import api_definition, execute_api_path, operations

__all__ = ["RestApiGatewayArgs", "RestApiGateway", "ACCESS_LOG_FORMAT"]

# One JSON line per request; xrayTraceId carries the same 128-bit id as the W3C traceparent.
ACCESS_LOG_FORMAT: Mapping[str, str] = {
    "requestId": "$context.requestId",
    "xrayTraceId": "$context.xrayTraceId",
    "caller": "$context.identity.caller",
    "userArn": "$context.identity.userArn",
    "httpMethod": "$context.httpMethod",
    "resourcePath": "$context.resourcePath",
    "status": "$context.status",
    "integrationStatus": "$context.integration.status",
    "integrationError": "$context.integration.error",
    "responseLatency": "$context.responseLatency",
    "requestTime": "$context.requestTime",
}


@dataclass
class RestApiGatewayArgs:
    """Inputs of :class:`RestApiGateway`."""

    prefix: str
    stage_name: str
    region: str
    account_id: pulumi.Input[str]
    catalog: list[dict[str, Any]]
    # data service -> (function ARN, function name)
    functions: Mapping[str, tuple[pulumi.Output[str], pulumi.Output[str]]]
    log_retention_days: int
    # API Gateway's CloudWatch role is one setting per account and region (the last writer wins): only
    # the stack that owns it sets it (config agentcage:manageApiGatewayAccount), and it is retained.
    manage_account: bool = True
    throttle_rate_limit: int = 50
    throttle_burst_limit: int = 100


class RestApiGateway(pulumi.ComponentResource):
    """RestApi (body = the catalog + integrations), Deployment, Stage with access logs and tracing."""

    rest_api: aws.apigateway.RestApi
    stage: aws.apigateway.Stage
    method_arns: list[pulumi.Output[str]]
    method_arn_of: dict[str, pulumi.Output[str]]  # operationId -> its stage method ARN

    def __init__(
        self, name: str, args: RestApiGatewayArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("agentcage:aws:RestApiGateway", name, None, opts)
        if args.log_retention_days not in CLOUDWATCH_RETENTION_DAYS:
            raise ValueError(
                f"{name}: log_retention_days {args.log_retention_days} is not a CloudWatch value"
            )
        ops = list(operations(args.catalog))
        missing = sorted({op.function for op in ops} - set(args.functions))
        if missing:
            raise ValueError(f"{name}: no Lambda for data services {missing}")
        child = pulumi.ResourceOptions(parent=self)
        title = f"{args.prefix}-data-services"

        arns = pulumi.Output.all(**{service: arn for service, (arn, _) in args.functions.items()})
        body = arns.apply(
            lambda resolved: json.dumps(
                api_definition(args.catalog, title, args.region, resolved), sort_keys=True
            )
        )
        self.rest_api = aws.apigateway.RestApi(
            f"{name}-api",
            name=title,
            body=body,
            endpoint_configuration=aws.apigateway.RestApiEndpointConfigurationArgs(types="REGIONAL"),
            opts=child,
        )
        deployment = aws.apigateway.Deployment(
            f"{name}-deployment",
            rest_api=self.rest_api.id,
            # A new deployment exactly when the definition changes.
            triggers={"body": body.apply(lambda text: hashlib.sha256(text.encode()).hexdigest())},
            opts=child,
        )
        access_logs = aws.cloudwatch.LogGroup(
            f"{name}-access-logs",
            name=f"/aws/apigateway/{title}",
            retention_in_days=args.log_retention_days,
            opts=child,
        )
        account = self._account_logging_role(name, args) if args.manage_account else None
        self.stage = aws.apigateway.Stage(
            f"{name}-stage",
            rest_api=self.rest_api.id,
            deployment=deployment.id,
            stage_name=args.stage_name,
            xray_tracing_enabled=True,
            access_log_settings=aws.apigateway.StageAccessLogSettingsArgs(
                destination_arn=access_logs.arn, format=json.dumps(ACCESS_LOG_FORMAT)
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[account] if account else []),
        )
        # Created here (with retention) before API Gateway would create it without any.
        execution_logs = aws.cloudwatch.LogGroup(
            f"{name}-execution-logs",
            name=pulumi.Output.concat("API-Gateway-Execution-Logs_", self.rest_api.id, "/", args.stage_name),
            retention_in_days=args.log_retention_days,
            opts=child,
        )
        aws.apigateway.MethodSettings(
            f"{name}-method-settings",
            rest_api=self.rest_api.id,
            stage_name=self.stage.stage_name,
            method_path="*/*",
            settings=aws.apigateway.MethodSettingsSettingsArgs(
                metrics_enabled=True,
                logging_level="ERROR",
                data_trace_enabled=False,  # full request logs would copy PII into CloudWatch
                throttling_rate_limit=args.throttle_rate_limit,
                throttling_burst_limit=args.throttle_burst_limit,
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[execution_logs]),
        )
        stage_arn = pulumi.Output.concat(self.rest_api.execution_arn, "/", self.stage.stage_name, "/")
        for op in ops:
            _, function_name = args.functions[op.function]
            aws.lambda_.Permission(
                f"{name}-invoke-{op.operation_id}",
                action="lambda:InvokeFunction",
                function=function_name,
                principal="apigateway.amazonaws.com",
                source_arn=pulumi.Output.concat(stage_arn, execute_api_path(op.method, op.path)),
                opts=child,
            )
        # One ARN per catalog operation (method + resource), for execute-api:Invoke grants.
        self.method_arn_of = {
            op.operation_id: pulumi.Output.concat(stage_arn, execute_api_path(op.method, op.path))
            for op in ops
        }
        self.method_arns = list(self.method_arn_of.values())
        self.invoke_url = self.stage.invoke_url
        self.register_outputs({"invoke_url": self.stage.invoke_url, "rest_api_id": self.rest_api.id})

    def _account_logging_role(self, name: str, args: RestApiGatewayArgs) -> aws.apigateway.Account:
        # API Gateway writes logs with one role per account and region (a regional setting); it is
        # scoped to this account's log groups in this region instead of the managed policy's "*".
        # Retained on destroy, with its role: other stacks in the account log through this setting,
        # and an account setting pointing at a deleted role would break their stages' logging.
        retained = pulumi.ResourceOptions(parent=self, retain_on_delete=True)
        role = aws.iam.Role(
            f"{name}-cloudwatch-role",
            assume_role_policy=policy_json([service_trust("apigateway.amazonaws.com")]),
            description="API Gateway: write access and execution logs in this region",
            opts=retained,
        )
        log_groups = pulumi.Output.concat("arn:aws:logs:", args.region, ":", args.account_id, ":log-group:*")
        aws.iam.RolePolicy(
            f"{name}-cloudwatch-policy",
            role=role.name,
            policy=policy_json(
                [
                    allow(
                        "WriteApiGatewayLogs",
                        [
                            "logs:CreateLogGroup",
                            "logs:CreateLogStream",
                            "logs:DescribeLogGroups",
                            "logs:DescribeLogStreams",
                            "logs:PutLogEvents",
                            "logs:GetLogEvents",
                            "logs:FilterLogEvents",
                        ],
                        [log_groups],
                    )
                ]
            ),
            opts=retained,
        )
        return aws.apigateway.Account(f"{name}-account", cloudwatch_role_arn=role.arn, opts=retained)

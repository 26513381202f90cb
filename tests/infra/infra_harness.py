"""Shared by the infra tests: the recorded program runs and how to look things up in them."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
RUNNER = Path(__file__).with_name("program_run.py")
STACKS = ("dev", "prod")
# prod is run with the approval webhook set as a secret (as `pulumi config set --secret` would);
# dev without one, so both paths of the program are exercised.
WEBHOOK_SECRET = "https://hooks.slack.com/services/T0000/B0000/notarealtoken0000000000"
STACK_SECRETS = {"dev": {}, "prod": {"agentcage:approvalWebhookUrl": WEBHOOK_SECRET}}
# dev and prod as two stacks of one AWS account: dev creates the account-wide singletons (the OIDC
# provider for the tenant's issuer, accepting prod's audience too, and API Gateway's CloudWatch role);
# prod looks the provider up and leaves the account setting alone. The committed files leave these
# keys unset (each stack alone in its account), which test_infra_config covers.
ACCOUNT_ID = "123456789012"
SHARED_PROVIDER_ARN = f"arn:aws:iam::{ACCOUNT_ID}:oidc-provider/sts.windows.net/{{tenant}}/"
# dev takes the default federation audience (api://<its app's client id>); prod names one of the forms
# Entra's identifier-URI policy accepts, api://<tenant>/<name>.
PROD_AUDIENCE = "api://{tenant}/agentcage-prod"
STACK_OVERRIDES = {
    "dev": {"agentcage:oidcProviderExtraAudiences": f'["{PROD_AUDIENCE}"]'},
    "prod": {
        "agentcage:existingOidcProviderArn": SHARED_PROVIDER_ARN,
        "agentcage:manageApiGatewayAccount": "false",
        "agentcage:federationAudience": PROD_AUDIENCE,
    },
}
DEPENDENCY_TARGETS = ("lambda-core", "lambda-data", "lambda-bridge", "function-app")


@dataclass(frozen=True)
class Resource:
    """One registration recorded by the mock monitor."""

    urn: str
    type: str
    name: str
    custom: bool
    parent: str
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    retain_on_delete: bool = False
    protect: bool = False
    delete_before_replace: bool = False


@dataclass(frozen=True)
class StackRun:
    """Everything one program run registered, with lookups."""

    stack: str
    config: dict[str, Any]
    resources: list[Resource]
    calls: list[dict[str, Any]] = field(default_factory=list)  # the invokes (lookups) the program made

    def of_type(self, resource_type: str) -> list[Resource]:
        """Every resource of one type."""
        return [r for r in self.resources if r.type == resource_type]

    def one(self, resource_type: str, name: str) -> Resource:
        """The resource of this type and name."""
        matches = [r for r in self.of_type(resource_type) if r.name == name]
        assert len(matches) == 1, f"expected one {resource_type} named {name}, found {len(matches)}"
        return matches[0]

    def by_urn(self, urn: str) -> Resource | None:
        """The resource with this URN, if recorded (the stack itself is not)."""
        return next((r for r in self.resources if r.urn == urn), None)

"""Run ``infra/__main__.py`` under Pulumi mocks for one stack and write every registration as JSON.

Usage: ``python tests/infra/program_run.py <stack> <out.json> [secret:key=value | plain:key=value]...``

The stack's committed ``Pulumi.<stack>.yaml`` is loaded into the mock configuration exactly as the
engine passes it (structured values as JSON strings); extra ``secret:key=value`` arguments are added
as *secret* config, like ``pulumi config set --secret``, and ``plain:key=value`` ones as plain
config. Mocks are installed before the program is imported, and the program folder is run the way
Pulumi's Python host runs ``main: infra/`` (``runpy.run_path`` on the folder, which puts it first on
``sys.path``). Each run is its own process because the Pulumi runtime settings are process-global.
"""

from __future__ import annotations

import hashlib
import json
import os
import runpy
import sys
import uuid
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
ACCOUNT_ID = "123456789012"
REGION = "eu-west-1"
SUBSCRIPTION_ID = "11111111-2222-3333-4444-555555555555"
OUTBOUND_ISSUER = "https://0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0.tokens.sts.global.api.aws"
# The tenant the mocked Azure providers are logged into; unset: the stack's configured tenant.
LOGGED_IN_TENANT_ENV = "AGENTCAGE_TEST_LOGGED_IN_TENANT"


def stack_config(stack: str) -> dict[str, str]:
    """The committed stack file as the engine hands it to a program."""
    raw = yaml.safe_load((REPO_ROOT / f"Pulumi.{stack}.yaml").read_text(encoding="utf-8"))["config"]
    return {key: value if isinstance(value, str) else json.dumps(value) for key, value in raw.items()}


_SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"  # Pulumi's wire marker for a secret value


def unwrap_secrets(value: Any) -> Any:
    """Inputs with every secret envelope replaced by its value (the tests search the plain text)."""
    if isinstance(value, dict):
        if value.get("4dabf18193072939515e22adb298388d") == _SECRET_SIG:
            return unwrap_secrets(value["value"])
        return {k: unwrap_secrets(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap_secrets(v) for v in value]
    return value


def _uuid(*parts: str) -> str:
    return str(uuid.UUID(hashlib.sha256("/".join(parts).encode()).hexdigest()[:32]))


def computed_outputs(typ: str, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """What the providers would compute for a created resource (ids, ARNs, names, endpoints)."""
    out: dict[str, Any] = {}
    if typ.startswith("aws:"):
        service = typ.split(":")[1].split("/", maxsplit=1)[0]
        physical = inputs.get("name") or f"{name}-0000000"
        out["name"] = physical
        out["arn"] = f"arn:aws:{service}:{REGION}:{ACCOUNT_ID}:{physical}"
        if typ == "aws:iam/role:Role":
            out["arn"] = f"arn:aws:iam::{ACCOUNT_ID}:role/{physical}"
            out["uniqueId"] = "AROA" + hashlib.sha256(physical.encode()).hexdigest()[:17].upper()
        elif typ == "aws:sqs/queue:Queue":
            out["url"] = f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT_ID}/{physical}"
            out["arn"] = f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{physical}"
        elif typ == "aws:dynamodb/table:Table":
            out["arn"] = f"arn:aws:dynamodb:{REGION}:{ACCOUNT_ID}:table/{physical}"
        elif typ == "aws:cloudwatch/logGroup:LogGroup":
            out["arn"] = f"arn:aws:logs:{REGION}:{ACCOUNT_ID}:log-group:{physical}"
        elif typ == "aws:lambda/function:Function":
            out["arn"] = f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{physical}"
            out["invokeArn"] = (
                f"arn:aws:apigateway:{REGION}:lambda:path/2015-03-31/functions/{out['arn']}/invocations"
            )
        elif typ == "aws:apigateway/restApi:RestApi":
            out["id"] = "a1b2c3d4e5"
            out["executionArn"] = f"arn:aws:execute-api:{REGION}:{ACCOUNT_ID}:a1b2c3d4e5"
            out["rootResourceId"] = "root0"
        elif typ == "aws:apigateway/stage:Stage":
            out["invokeUrl"] = f"https://a1b2c3d4e5.execute-api.{REGION}.amazonaws.com/{inputs['stageName']}"
        elif typ == "aws:iam/openIdConnectProvider:OpenIdConnectProvider":
            out["arn"] = f"arn:aws:iam::{ACCOUNT_ID}:oidc-provider/{inputs['url'].removeprefix('https://')}"
        elif typ == "aws:iam/outboundWebIdentityFederation:OutboundWebIdentityFederation":
            out["issuerIdentifier"] = OUTBOUND_ISSUER
    elif typ.startswith("azure-native:"):
        explicit = next(
            (
                inputs[k]
                for k in ("resourceGroupName", "queueName", "containerName", "secretName")
                if k == _name_key(typ) and k in inputs
            ),
            None,
        )
        physical = explicit or name.replace("-", "") + "x1"
        out["name"] = physical
        out["id"] = f"/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/rg/providers/{typ}/{physical}"
        if typ == "azure-native:managedidentity:UserAssignedIdentity":
            out.update(
                principalId=_uuid(name, "principal"), clientId=_uuid(name, "client"), tenantId=_uuid("tenant")
            )
        elif typ == "azure-native:storage:StorageAccount":
            out["primaryEndpoints"] = {"blob": f"https://{physical}.blob.core.windows.net/"}
        elif typ == "azure-native:applicationinsights:Component":
            out["connectionString"] = (
                f"InstrumentationKey={_uuid(name, 'ikey')};IngestionEndpoint=https://{REGION}.in.applicationinsights.azure.com/"
            )
        elif typ == "azure-native:web:WebApp":
            out["defaultHostName"] = f"{physical}.azurewebsites.net"
            # The API takes a list of identity ids and returns a map of them.
            identity = inputs.get("identity", {})
            out["identity"] = {
                **identity,
                "userAssignedIdentities": {rid: {} for rid in identity.get("userAssignedIdentities", [])},
            }
        elif typ == "azure-native:cognitiveservices:Account":
            subdomain = inputs.get("properties", {}).get("customSubDomainName", physical)
            out["properties"] = {
                **inputs.get("properties", {}),
                "endpoint": f"https://{subdomain}.openai.azure.com/",
            }
        elif typ == "azure-native:keyvault:Secret":
            out["properties"] = {
                **inputs.get("properties", {}),
                "secretUri": f"https://kv.vault.azure.net/secrets/{physical}",
            }
    elif typ.startswith("azuread:"):
        object_id = _uuid(name, "object")
        out.update(objectId=object_id, clientId=_uuid(name, "client"))
        out["id"] = (
            f"/applications/{object_id}" if typ == "azuread:index/application:Application" else object_id
        )
    return out


def _name_key(typ: str) -> str:
    return {
        "azure-native:resources:ResourceGroup": "resourceGroupName",
        "azure-native:servicebus:Queue": "queueName",
        "azure-native:storage:BlobContainer": "containerName",
        "azure-native:keyvault:Secret": "secretName",
    }.get(typ, "")


def main(argv: list[str]) -> None:
    """Run the program for ``argv[0]`` and write the registrations to ``argv[1]``."""
    stack, out_file, *settings = argv
    # Each run builds its archives beside its output: runs of one stack with other settings (other tests)
    # must not rewrite the archives whose hashes an earlier run recorded.
    os.environ.setdefault(
        "AGENTCAGE_INFRA_BUILD_DIR", str(Path(out_file).parent / f"build-{Path(out_file).stem}")
    )
    import pulumi
    from pulumi.runtime import mocks
    from pulumi.runtime.stack import run_pulumi_func
    from pulumi.runtime.sync_await import _sync_await

    inputs: dict[tuple[str, str], dict[str, Any]] = {}
    registrations: list[dict[str, Any]] = []
    calls: list[dict[str, Any]] = []

    class Mocks(pulumi.runtime.Mocks):
        def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
            if (args.typ, args.name) in inputs:
                raise AssertionError(f"two resources named {args.name} of type {args.typ}")
            plain = unwrap_secrets(args.inputs)
            inputs[(args.typ, args.name)] = plain
            out = computed_outputs(args.typ, args.name, plain)
            return out.get("id", f"{args.name}-id"), {**plain, **out}

        def call(
            self, args: pulumi.runtime.MockCallArgs
        ) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
            calls.append({"token": args.token, "args": args.args})
            if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
                return {
                    "accountId": ACCOUNT_ID,
                    "arn": f"arn:aws:iam::{ACCOUNT_ID}:user/deployer",
                    "userId": "AIDA",
                }, []
            if args.token == "aws:iam/getOpenIdConnectProvider:getOpenIdConnectProvider":
                # The provider the dev stack of the same account created (see infra_harness): it
                # accepts dev's default audience and the audience prod configures.
                arn = args.args["arn"]
                tenant = arn.split("/sts.windows.net/", 1)[1].strip("/")
                dev_audience = "api://" + _uuid("azure-to-aws-app", "client")
                return {
                    "arn": arn,
                    "url": "https://" + arn.split(":oidc-provider/", 1)[1],
                    "clientIdLists": [dev_audience, f"api://{tenant}/agentcage-prod"],
                    "thumbprintLists": [],
                    "tags": {},
                }, []
            if args.token == "azure-native:authorization:getClientConfig":
                return {
                    "subscriptionId": SUBSCRIPTION_ID,
                    "tenantId": logged_in_tenant(),
                    "clientId": "c",
                    "objectId": "o",
                }, []
            if args.token == "azuread:index/getClientConfig:getClientConfig":
                return {"tenantId": logged_in_tenant(), "clientId": "c", "objectId": "o"}, []
            raise NotImplementedError(f"no mock for invoke {args.token}")

    class RecordingMonitor(mocks.MockMonitor):
        def RegisterResource(self, request: Any) -> Any:
            response = super().RegisterResource(request)
            if request.type != "pulumi:pulumi:Stack":
                urn = response.urn
                registrations.append(
                    {
                        "urn": urn,
                        "type": request.type,
                        "name": request.name,
                        "custom": request.custom,
                        "parent": request.parent,
                        "inputs": inputs[(request.type, request.name)],
                        "outputs": self.resources[urn].state,
                        "retain_on_delete": bool(request.retainOnDelete),
                        "protect": bool(request.protect),
                        "delete_before_replace": bool(request.deleteBeforeReplace),
                    }
                )
            return response

    mock = Mocks()
    pulumi.runtime.set_mocks(
        mock, project="agentcage", stack=stack, preview=False, monitor=RecordingMonitor(mock)
    )
    config = stack_config(stack)
    secret_keys = []
    for setting in settings:
        kind, pair = setting.split(":", 1)
        key, value = pair.split("=", 1)
        config[key] = value
        if kind == "secret":
            secret_keys.append(key)
    pulumi.runtime.set_all_config(config, secret_keys)

    def logged_in_tenant() -> str:
        return os.environ.get(LOGGED_IN_TENANT_ENV) or config["agentcage:entraTenantId"]

    _sync_await(run_pulumi_func(lambda: runpy.run_path(str(REPO_ROOT / "infra"), run_name="__main__")))

    def encode(value: Any) -> Any:
        if isinstance(value, pulumi.Archive | pulumi.Asset):
            return {"__asset__": type(value).__name__, "path": getattr(value, "path", None)}
        raise TypeError(f"cannot encode {type(value).__name__}")

    Path(out_file).write_text(
        json.dumps({"resources": registrations, "calls": calls}, default=encode), encoding="utf-8"
    )


if __name__ == "__main__":
    main(sys.argv[1:])

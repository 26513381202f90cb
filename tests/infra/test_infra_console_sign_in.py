"""People sign in to the approval console through App Service Authentication, without a client secret,
while programs keep getting a 401; the console's monitoring links have what they need."""

from __future__ import annotations

from typing import Any

from agentcage.console.links import AWS_REGION_ENVS
from agentcage.constants import APP_INSIGHTS_RESOURCE_ID_ENV
from agentcage.mcp.gateway import MCP_PATH, METADATA_PATH
from infra.config import deployed_agents
from tests.infra.infra_harness import StackRun

_SECRET_WORDS = ("secret", "password", "certificate", "thumbprint")


def _settings(run: StackRun) -> dict[str, Any]:
    (app,) = run.of_type("azure-native:web:WebApp")
    return {pair["name"]: pair["value"] for pair in app.inputs["siteConfig"]["appSettings"]}


def _keys(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [key for k, v in value.items() for key in (k, *_keys(v))]
    if isinstance(value, list):
        return [key for item in value for key in _keys(item)]
    return []


def test_the_app_registration_takes_a_persons_id_token_back_on_the_apps_own_host(run: StackRun) -> None:
    (app,) = run.of_type("azure-native:web:WebApp")
    api = run.one("azuread:index/application:Application", "coordinator-auth-api")
    host = app.outputs["defaultHostName"]

    assert api.inputs["web"] == {
        "redirectUris": [f"https://{host}/.auth/login/aad/callback"],
        # the form_post ID-token flow the platform uses without a client secret; never an access token
        "implicitGrant": {"idTokenIssuanceEnabled": True, "accessTokenIssuanceEnabled": False},
    }


def test_sign_in_keeps_a_session_and_redirects_only_within_the_app(run: StackRun) -> None:
    (auth,) = run.of_type("azure-native:web:WebAppAuthSettingsV2")

    assert auth.inputs["login"] == {
        "tokenStore": {"enabled": False},
        "allowedExternalRedirectUrls": [],  # post_login_redirect_uri may only name this app's pages
        "preserveUrlFragmentsForLogins": False,
        "cookieExpiration": {"convention": "FixedTime", "timeToExpiration": "08:00:00"},
        "nonce": {"validateNonce": True, "nonceExpirationInterval": "00:05:00"},
    }
    assert auth.inputs["httpSettings"] == {"requireHttps": True}
    assert auth.inputs["platform"] == {"enabled": True}


def test_programs_still_get_a_401_and_only_the_mcp_metadata_is_open(run: StackRun) -> None:
    (auth,) = run.of_type("azure-native:web:WebAppAuthSettingsV2")
    metadata = f"{MCP_PATH}{METADATA_PATH}"

    # Not RedirectToLoginPage: an API or MCP client must see 401 (a person follows a sign-in link).
    validation = auth.inputs["globalValidation"]
    assert validation["requireAuthentication"] is True
    assert validation["unauthenticatedClientAction"] == "Return401"
    assert "redirectToProvider" not in validation
    # Open: the gateway's metadata, bare and for every agent the app ships (the document its
    # challenge names), as exact paths; nothing else, and never an agent's MCP endpoint itself.
    agents = sorted(deployed_agents())
    assert agents
    assert validation["excludedPaths"] == [metadata, *(f"{metadata}/{agent}" for agent in agents)]
    assert not [path for path in validation["excludedPaths"] if not path.startswith(metadata)]


def test_no_client_secret_anywhere_in_the_sign_in(run: StackRun) -> None:
    (auth,) = run.of_type("azure-native:web:WebAppAuthSettingsV2")
    api = run.one("azuread:index/application:Application", "coordinator-auth-api")

    assert not [k for k in _keys(auth.inputs) if any(word in k.lower() for word in _SECRET_WORDS)]
    assert not [k for k in _keys(api.inputs) if any(word in k.lower() for word in _SECRET_WORDS)]
    assert "passwords" not in api.inputs
    assert not run.of_type("azuread:index/applicationPassword:ApplicationPassword")
    assert not run.of_type("azuread:index/applicationCertificate:ApplicationCertificate")
    # the platform's own secret setting for Entra sign-in is never written
    assert "MICROSOFT_PROVIDER_AUTHENTICATION_SECRET" not in _settings(run)


def test_the_console_links_a_trace_to_this_stacks_application_insights_and_aws_region(run: StackRun) -> None:
    (component,) = run.of_type("azure-native:applicationinsights:Component")
    settings = _settings(run)

    assert settings[APP_INSIGHTS_RESOURCE_ID_ENV] == component.outputs["id"]
    # the first region name the console's links read (the Lambdas' region: the stack's AWS region)
    assert settings[AWS_REGION_ENVS[0]] == run.config["aws:region"]

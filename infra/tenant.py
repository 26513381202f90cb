"""The configured Entra tenant must be the one the Azure providers are logged into.

``agentcage:entraTenantId`` names the issuer AWS trusts and the tenant the coordinator validates
tokens for; the azure-native provider (role assignments, the Function App) and the azuread provider
(the Entra applications) act in whatever tenant ``az login`` or the ARM_* variables chose. If the two
disagree, ``pulumi up`` would build a system whose tokens come from one tenant while AWS and the
coordinator wait for another's, and nothing would fail until the first task. This stops the preview.
"""

from __future__ import annotations

from collections.abc import Mapping

from agentcage.errors import ConfigurationError

__all__ = ["TENANT_KEY", "check_logged_in_tenant", "logged_in_tenants"]

TENANT_KEY = "agentcage:entraTenantId"


def check_logged_in_tenant(configured: str, logged_in: Mapping[str, str]) -> None:
    """Raise ConfigurationError unless every provider in ``logged_in`` (name -> tenant) is ``configured``."""
    wrong = {
        name: tenant for name, tenant in sorted(logged_in.items()) if tenant.lower() != configured.lower()
    }
    if wrong:
        where = ", ".join(f"the {name} provider is logged into {tenant}" for name, tenant in wrong.items())
        raise ConfigurationError(
            f"config {TENANT_KEY}: is {configured}, but {where}; set {TENANT_KEY} to the tenant you "
            "deploy into, or log in to the configured one (`az login --tenant <id>` or ARM_TENANT_ID)",
            details={"key": TENANT_KEY, "configured": configured, "logged_in": dict(logged_in)},
        )


def logged_in_tenants() -> dict[str, str]:
    """The tenant each Azure provider of this program is logged into (two synchronous invokes)."""
    import pulumi_azuread as azuread
    from pulumi_azure_native import authorization

    return {
        "azure-native": authorization.get_client_config().tenant_id,
        "azuread": azuread.get_client_config().tenant_id,
    }

"""The production-like rule: every spelling of production counts, near misses do not."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentcage.policy import is_production_environment, is_production_like, normalize_tags


@pytest.mark.parametrize(
    "tags",
    [
        {"env": "prod"},
        {"env": "production"},
        {"env": "production-candidate"},
        {"Env": "PRODUCTION"},
        {" env ": " prod\t"},
        {"ENVIRONMENT": "Production_Candidate"},
        {"stage": "PRD"},
        {"stage": "live"},
        {"deploy_env": "prod-eu-west-1"},
        {"env": "\uff50\uff52\uff4f\uff44"},
        {"env": "pro\u200bd"},
        {"env": "pre-prod"},
        {"protected": "true"},
        {"Protected": "YES"},
        {"do-not-delete": "1"},
        {"team": "data", "env": "dev", "stage": "production"},
        # camelCase and squashed keys: the word boundary is in the case, or nowhere
        {"EnvironmentName": "production"},
        {"StageName": "prod"},
        {"DeployEnv": "prod"},
        {"MyEnvName": "prod"},
        {"DBStage": "Prod"},
        {"deployenv": "prod"},
        {"ENVIRONMENTNAME": "PROD"},
        {"envName": "ProductionCandidate"},
        {"\uff25nvironment\uff2eame": "prod"},  # full-width letters, camelCase after NFKC
        {"DoNotDelete": "yes"},
    ],
)
def test_production_like_tags(tags: dict[str, str]) -> None:
    assert is_production_like(tags)


@pytest.mark.parametrize(
    "tags",
    [
        {},
        {"env": "dev"},
        {"env": "staging"},
        {"stage": "preview"},
        {"env": "qa", "owner": "prod-team"},
        {"product": "catalog"},
        {"protected": "false"},
        {"Protected": "No"},
        {"tier": "gold"},
        {"stage": "delivery"},
        # "prod" under a key that names an owner or a product, not an environment
        {"Owner": "prod-team"},
        {"TeamOwner": "ProdOps", "EnvironmentName": "dev"},
        {"ProductName": "prod-catalog"},
        # an environment word inside another word is not an environment key
        {"inventory": "prod"},
        {"InventoryClass": "prod-spares"},
        {"EnvironmentName": "staging"},
        {"DoNotDelete": "false"},
    ],
)
def test_near_misses_are_not_production_like(tags: dict[str, str]) -> None:
    assert not is_production_like(tags)


def test_normalised_tags_are_key_equals_value() -> None:
    assert normalize_tags({" Env ": "Production  Candidate", "Owner": "Data_Team"}) == {
        "env=production-candidate",
        "owner=data-team",
    }


def test_normalised_strings_are_accepted_as_input() -> None:
    assert is_production_like(normalize_tags({"Stage": " PROD "}))
    # Normalised, "EnvironmentName" has lost its boundary; the key still begins with "environment".
    assert is_production_like(normalize_tags({"EnvironmentName": "production"}))
    assert not is_production_like(normalize_tags({"Owner": "prod-team"}))


def test_the_cedar_tags_are_not_split_at_camel_case() -> None:
    # The split is only a second view for the production-like rule; the tags Cedar sees keep one
    # spelling per key whatever its case ("sTaGe" must stay "stage", not "s-ta-ge").
    assert normalize_tags({"EnvironmentName": "Prod", "sTaGe": "pRoD"}) == {
        "environmentname=prod",
        "stage=prod",
    }


def test_prod_environment_is_recognised_in_any_case() -> None:
    assert is_production_environment(" PROD ")
    assert not is_production_environment("dev")


@settings(max_examples=200, deadline=None)
@given(
    key=st.sampled_from(["env", "environment", "stage", "EnvironmentName", "StageName", "DeployEnv"]),
    value=st.sampled_from(["prod", "production", "production-candidate", "prd", "live"]),
    flips=st.lists(st.booleans(), min_size=25, max_size=25),
    pad=st.sampled_from(["", " ", "\t", "  \n", "\u00a0"]),
    separator=st.sampled_from(["-", "_", " ", "  "]),
)
def test_case_whitespace_and_separator_variants_stay_production_like(
    key: str, value: str, flips: list[bool], pad: str, separator: str
) -> None:
    spelled = "".join(
        c.upper() if flip else c for c, flip in zip(value.replace("-", separator), flips, strict=False)
    )
    cased_key = "".join(c.upper() if flip else c for c, flip in zip(key, reversed(flips), strict=False))
    assert is_production_like({pad + cased_key + pad: pad + spelled + pad})

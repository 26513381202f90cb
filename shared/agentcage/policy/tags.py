"""Normalising a target's tags, and the one function that decides "production-like".

The janitor incident came from a tag read too literally (``production-candidate`` is not
``production``, so it was fair game). Here every spelling a person might use is folded before it is
compared: Unicode look-alikes (NFKC), invisible format characters, case (``casefold``), surrounding and
repeated whitespace, and ``_``/space/``-`` separators. The rule then looks at *tokens*, not whole
values, so ``Production-Candidate``, ``prod-eu``, ``PRD1`` and ``pre-prod`` are all production-like.

Keys are read two ways, because case carries word boundaries a casefold throws away: as normalised,
and split at camelCase boundaries first (``MyEnvName`` -> ``my-env-name``). A key token counts as an
environment key when it begins or ends with an environment word, so ``EnvironmentName``,
``StageName``, ``DeployEnv`` and ``deployenv`` all count while ``inventory`` does not. The split is
an extra view, never the only one: ``sTaGe`` is still ``stage``. It errs on the side of
"production-like": a false positive costs a human a look, a false negative costs production data.

Only the *key* decides whether a value names an environment: ``Owner=prod-team`` is a team, not a
deployment, and is not production-like (a destructive call on it still needs an approval).

What a service reports is typed here, once, for both sides: the coordinator (before it proposes a
call) and the AWS executor (before it runs one) read a target with :func:`target_id_of` and
:func:`reported_tags`, so a tag set is known, or unknown, the same way wherever it is read. Tags are
known only as a JSON object of string values (what AWS and Azure tags are); a missing or ``null``
tags field, a list (AWS's ``[{"Key", "Value"}]`` shape included), or any value that is not a string
(a number, a boolean, a list, ``null``) makes the *whole* set unknown, which the policy refuses for a
destructive call (``destructive-forbidden-on-unknown-target``). Dropping only the odd tag instead
could drop the one that says production (``{"env": ["prod"]}``).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from typing import Any, Final

__all__ = [
    "ENVIRONMENT_KEYS",
    "PRODUCTION_ENVIRONMENTS",
    "PROTECTED_KEYS",
    "environment_values",
    "is_production_environment",
    "is_production_like",
    "normalize_environment",
    "normalize_tag_text",
    "normalize_tags",
    "reported_tags",
    "target_id_of",
]

# Keys whose value names a deployment environment (matched as a token of the key, so that
# "Environment", "deploy_env" and "stage-name" count).
ENVIRONMENT_KEYS: Final = frozenset({"env", "environment", "environ", "stage", "deployment", "tier"})
# Keys that mark a resource as protected whatever their value says, unless it clearly says "no".
PROTECTED_KEYS: Final = frozenset(
    {"protected", "protect", "deletionprotection", "donotdelete", "nodelete", "retain", "legalhold"}
)
PRODUCTION_ENVIRONMENTS: Final = frozenset({"prod", "production"})
_FALSE_VALUES: Final = frozenset({"false", "no", "n", "0", "off", "disabled", "none"})
_PRODUCTION_TOKEN = re.compile(r"prod|prd|^live\d*$")
_SEPARATORS = re.compile(r"[\s_\-]+")
# A word boundary inside camelCase: "deployEnv", "StageName", "DBStage" -> "DB-Stage", "env2Name".
_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_TOKENS = re.compile(r"[^0-9a-z]+")


def normalize_tag_text(text: Any) -> str:
    """One spelling per meaning: NFKC, format characters removed, case-folded, trimmed, and runs
    of whitespace, ``_`` and ``-`` turned into one ``-``."""
    value = unicodedata.normalize("NFKC", str(text))
    value = "".join(ch for ch in value if unicodedata.category(ch) != "Cf")
    return _SEPARATORS.sub("-", value.casefold()).strip("-")


def normalize_tags(tags: Mapping[str, Any]) -> frozenset[str]:
    """The tags as normalised ``key=value`` strings (the form the Cedar context carries)."""
    return frozenset(f"{normalize_tag_text(key)}={normalize_tag_text(value)}" for key, value in tags.items())


def _tokens(text: str) -> list[str]:
    return [token for token in _TOKENS.split(text) if token]


def _key_tokens(raw_key: Any) -> set[str]:
    """The tokens of a raw key, as normalised and as split at camelCase boundaries."""
    text = unicodedata.normalize("NFKC", str(raw_key))
    return set(_tokens(normalize_tag_text(text))) | set(
        _tokens(normalize_tag_text(_CAMEL_BOUNDARY.sub("-", text)))
    )


def _is_environment_key(tokens: Iterable[str]) -> bool:
    # Prefix or suffix, not any substring: "environmentname" and "deployenv" are environment
    # keys, "inventory" is not.
    return any(
        token.startswith(word) or token.endswith(word) for token in tokens for word in ENVIRONMENT_KEYS
    )


def _is_protected_key(key: str) -> bool:
    squashed = "".join(_tokens(key))
    return any(marker in squashed for marker in PROTECTED_KEYS)


def _names_production(value: str) -> bool:
    return any(_PRODUCTION_TOKEN.search(token) for token in _tokens(value))


def is_production_like(tags: Mapping[str, Any] | Iterable[str]) -> bool:
    """Whether a target with these tags must be treated as production.

    ``tags`` is the raw mapping from the service, or already-normalised ``key=value`` strings. True
    when an environment-like key (``env``, ``environment``, ``stage``, ``EnvironmentName``,
    ``deploy_env``, ...) has a value with a token naming production (``prod``, ``production``,
    ``prd``, ``live``, and anything containing ``prod`` such as ``production-candidate``), or when
    a protection key (``protected``, ``do-not-delete``, ``deletion_protection``, ...) has any value
    other than an explicit no.
    """
    pairs: list[tuple[str, set[str], str]] = []
    if isinstance(tags, Mapping):
        for raw_key, raw_value in tags.items():
            key = normalize_tag_text(raw_key)
            pairs.append((key, _key_tokens(raw_key), normalize_tag_text(raw_value)))
    else:
        for pair in tags:
            key, _, value = pair.partition("=")
            pairs.append((key, set(_tokens(key)), value))
    for key, key_tokens, value in pairs:
        if _is_environment_key(key_tokens) and _names_production(value):
            return True
        if _is_protected_key(key) and value not in _FALSE_VALUES:
            return True
    return False


def environment_values(tags: Mapping[str, Any]) -> frozenset[str]:
    """The environments a target's raw tags name: the normalised values of its environment-like keys
    (``{"Env": "Dev", "team": "x"}`` -> ``{"dev"}``); what a requester must own to delete it."""
    return frozenset(
        normalize_tag_text(value)
        for key, value in tags.items()
        if _is_environment_key(_key_tokens(key)) and normalize_tag_text(value)
    )


def normalize_environment(environment: str) -> str:
    """The deployment environment name as policies compare it (``" PROD "`` -> ``"prod"``)."""
    return normalize_tag_text(environment)


def is_production_environment(environment: str) -> bool:
    """Whether the (raw) environment name is production."""
    return normalize_environment(environment) in PRODUCTION_ENVIRONMENTS


def target_id_of(args: Mapping[str, Any], id_argument: str) -> str | None:
    """The id of the resource a call acts on: its ``id_argument``, when that is a non-empty string.

    ``None`` (no id: the target is unknown and is not read) otherwise, on both sides alike.
    """
    value = args.get(id_argument)
    return value if isinstance(value, str) and value.strip() else None


def reported_tags(body: Any, tags_field: str) -> dict[str, str] | None:
    """The tags a service's answer ``body`` reports in ``tags_field``, or ``None`` when they are unknown.

    Known only when ``body`` is a JSON object whose ``tags_field`` is a JSON object of string keys and
    string values (an empty object: known, no tags). Anything else, including one non-string value,
    is unknown (the module docstring says why).
    """
    if not isinstance(body, Mapping):
        return None
    tags = body.get(tags_field)
    if not isinstance(tags, Mapping):
        return None
    if not all(isinstance(key, str) and isinstance(value, str) for key, value in tags.items()):
        return None
    return dict(tags)

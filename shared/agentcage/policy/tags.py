"""Normalising a target's tags, and the one function that decides "production-like".

The janitor incident came from a tag read too literally (``production-candidate`` is not
``production``, so it was fair game). Here every spelling a person might use is folded before it is
compared: Unicode look-alikes (NFKC), invisible format characters, case (``casefold``), surrounding and
repeated whitespace, and ``_``/space/``-`` separators. The rule then looks at *tokens*, not whole
values, so ``Production-Candidate``, ``prod-eu``, ``PRD1`` and ``pre-prod`` are all production-like.
It errs on the side of "production-like": a false positive costs a human a look, a false negative
costs production data.
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
    "is_production_environment",
    "is_production_like",
    "normalize_environment",
    "normalize_tag_text",
    "normalize_tags",
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


def _is_environment_key(key: str) -> bool:
    return any(token in ENVIRONMENT_KEYS for token in _tokens(key))


def _is_protected_key(key: str) -> bool:
    squashed = "".join(_tokens(key))
    return any(marker in squashed for marker in PROTECTED_KEYS)


def _names_production(value: str) -> bool:
    return any(_PRODUCTION_TOKEN.search(token) for token in _tokens(value))


def is_production_like(tags: Mapping[str, Any] | Iterable[str]) -> bool:
    """Whether a target with these tags must be treated as production.

    ``tags`` is the raw mapping from the service, or already-normalised ``key=value`` strings. True
    when an environment-like key (``env``, ``environment``, ``stage``, ...) has a value with a token
    naming production (``prod``, ``production``, ``prd``, ``live``, and anything containing ``prod``
    such as ``production-candidate``), or when a protection key (``protected``, ``do-not-delete``,
    ``deletion_protection``, ...) has any value other than an explicit no.
    """
    pairs = normalize_tags(tags) if isinstance(tags, Mapping) else frozenset(tags)
    for pair in pairs:
        key, _, value = pair.partition("=")
        if _is_environment_key(key) and _names_production(value):
            return True
        if _is_protected_key(key) and value not in _FALSE_VALUES:
            return True
    return False


def normalize_environment(environment: str) -> str:
    """The deployment environment name as policies compare it (``" PROD "`` -> ``"prod"``)."""
    return normalize_tag_text(environment)


def is_production_environment(environment: str) -> bool:
    """Whether the (raw) environment name is production."""
    return normalize_environment(environment) in PRODUCTION_ENVIRONMENTS

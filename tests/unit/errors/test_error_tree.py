"""The drawn error tree stays true: every error is in it, with its own code, under its real parent."""

from __future__ import annotations

import re

import pytest

import agentcage.errors as errors

CLASSES = [getattr(errors, name) for name in errors.__all__]
TREE = (errors.__doc__ or "").split("::", 1)[-1]  # the drawing, not the prose above it


@pytest.mark.parametrize("error", CLASSES, ids=lambda cls: cls.__name__)
def test_every_error_is_drawn_with_its_code(error: type[errors.AgentcageError]) -> None:
    line = next((line for line in TREE.splitlines() if re.search(rf"\b{error.__name__}\b", line)), None)

    assert line is not None, f"{error.__name__} is missing from the tree in agentcage.errors"
    assert error.code in line.split(), f"{error.__name__}'s line does not show its code {error.code!r}"


@pytest.mark.parametrize("error", CLASSES[1:], ids=lambda cls: cls.__name__)
def test_every_error_is_drawn_under_its_parent(error: type[errors.AgentcageError]) -> None:
    lines = TREE.splitlines()
    index = next(i for i, line in enumerate(lines) if re.search(rf"\b{error.__name__}\b", line))
    depth = lines[index].index(error.__name__)
    parent_line = next(line for line in reversed(lines[:index]) if _name_column(line) < depth)

    assert error.__mro__[1].__name__ in parent_line


def test_codes_are_unique() -> None:
    codes = [error.code for error in CLASSES]

    assert len(codes) == len(set(codes))


def _name_column(line: str) -> int:
    match = re.search(r"[A-Z][A-Za-z]+Error", line)
    return match.start() if match else 10_000

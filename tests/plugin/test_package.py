"""The package's public surface."""

from __future__ import annotations

import importlib.resources

import pytest

import pytest_agenttrace
from pytest_agenttrace.tree._render import render_tree


def test_every_exported_name_resolves() -> None:
    for name in pytest_agenttrace.__all__:
        assert getattr(pytest_agenttrace, name) is not None, name
    assert sorted(dir(pytest_agenttrace)) == sorted(pytest_agenttrace.__all__)


def test_unknown_attribute_is_a_clear_attribute_error() -> None:
    with pytest.raises(AttributeError, match="has no attribute 'assert_tre'"):
        pytest_agenttrace.assert_tre  # type: ignore[attr-defined]  # noqa: B018


def test_ships_type_information_and_the_genai_rule_table() -> None:
    package = importlib.resources.files("pytest_agenttrace")
    assert package.joinpath("py.typed").is_file()
    assert package.joinpath("genai_rules.json").is_file()


# --------------------------------------------------------------------------- API


def test_render_tree_documented_in_syntax_md_is_public() -> None:
    import pytest_agenttrace

    assert pytest_agenttrace.render_tree is render_tree

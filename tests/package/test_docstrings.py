"""Help where people look for it: what `help()` and an editor's hover show of every public name,
fixture and command names each parameter, with an example; `--help` names each default and
environment variable."""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import leanix_auth
import leanix_auth.testing
from leanix_auth import _cli, pytest_plugin

PUBLIC = [
    (f"{module.__name__}.{name}", getattr(module, name))
    for module in (leanix_auth, leanix_auth.testing)
    for name in module.__all__
]
FIXTURES = [
    "leanix_server",
    "leanix_session_server",
    "leanix_session_tls_server",
    "leanix_shared_server",
    "leanix_mock",
    "leanix_clock",
    "leanix_token",
]
# What a fixture's marker may set: each fixture's docstring names those it honours.
SERVER_OPTIONS = ["api_token", "token_ttl", "clock_offset", "workspace_id", "strict"]
MARKER = {
    "leanix_server": [*SERVER_OPTIONS, "tls"],
    "leanix_shared_server": [*SERVER_OPTIONS, "tls"],
    "leanix_mock": ["subdomain", *SERVER_OPTIONS],
    "leanix_token": ["base_url", "ttl", "claims"],
}


def doc(obj: object) -> str:
    return inspect.getdoc(obj) or ""


def own_init(cls: type) -> Callable[..., Any] | None:
    """The class's own `__init__` written by hand (not object's, nor a dataclass's)."""
    if getattr(cls, "_is_protocol", False):
        return None  # a Protocol: typing's __init__, nothing to document
    for klass in cls.__mro__:
        if "__init__" in vars(klass) and klass.__module__ != "builtins":
            if dataclasses.is_dataclass(klass):
                return None  # its fields are its parameters: the class docstring names them
            init: Callable[..., Any] = vars(klass)["__init__"]
            return init
    return None


def documented() -> Iterator[tuple[str, Callable[..., Any], str]]:
    """(name, callable, what help() shows of it) for each public constructor, function,
    method and alternative constructor."""
    for name, obj in PUBLIC:
        if not inspect.isclass(obj):
            yield name, obj, doc(obj)
            continue
        init = own_init(obj)
        if dataclasses.is_dataclass(obj):
            yield name, obj, doc(obj)
        elif init is not None:
            yield name, init, doc(init) + doc(obj)
        for attribute, member in vars(obj).items():
            function = getattr(member, "__func__", member)  # a classmethod's function
            if not attribute.startswith("_") and inspect.isfunction(function):
                # A cache's load, store, discard and lock are documented once, on the protocol.
                protocol = getattr(leanix_auth.TokenCache, attribute, None)
                yield f"{name}.{attribute}", function, doc(function) or doc(protocol)


def parameters(function: Callable[..., Any]) -> list[str]:
    names = inspect.signature(function).parameters
    return [n for n in names if n not in ("self", "cls")]


def test_every_parameter_of_the_public_api_is_named_in_its_docstring() -> None:
    missing = [
        f"{name}({parameter})"
        for name, function, text in documented()
        for parameter in parameters(function)
        if not re.search(rf"\b{parameter}\b", text)
    ]
    assert missing == []
    names = [name for name, _, _ in documented()]
    assert "leanix_auth.RedisCache.from_url" in names  # the walk reaches what the issue named
    assert "leanix_auth.LeanIXHttpxAuth" in names


@pytest.mark.parametrize(("name", "obj"), PUBLIC, ids=[name for name, _ in PUBLIC])
def test_every_public_name_has_an_example(name: str, obj: object) -> None:
    init = own_init(obj) if inspect.isclass(obj) else None
    assert ">>> " in doc(obj) + (doc(init) if init is not None else "")


@pytest.mark.parametrize(
    "cls",
    [leanix_auth.LeanIXAuth, leanix_auth.LeanIXHttpxAuth, leanix_auth.LeanIXAiohttpMiddleware],
)
def test_help_on_an_adapter_shows_its_parameters_not_initialize_self(cls: type) -> None:
    text = doc(vars(cls)["__init__"])
    assert "Initialize self" not in text
    assert "**Parameters:**" in text
    assert "Raises" in text
    assert ">>> " in doc(cls)


@pytest.mark.parametrize("name", FIXTURES)
def test_every_fixture_says_what_it_is_with_its_marker_options_and_an_example(name: str) -> None:
    text = doc(getattr(pytest_plugin, name))
    assert text
    assert all(re.search(rf"\b{option}\b", text) for option in MARKER.get(name, []))
    assert "Usage" in text


def subcommands() -> dict[str, argparse.ArgumentParser]:
    [commands] = [
        action
        for action in _cli._parser()._actions
        if isinstance(action, argparse._SubParsersAction)
    ]
    return dict(commands.choices)


def test_every_option_default_is_in_its_help() -> None:
    missing = []
    for command, parser in subcommands().items():
        for action in parser._actions:
            default = action.default
            if default in (None, False, argparse.SUPPRESS) or not action.option_strings:
                continue
            shown = f"{default:g}" if isinstance(default, float) else str(default)
            if f"default {shown}" not in (action.help or ""):
                missing.append(f"{command} {action.option_strings[0]}")
    assert missing == []


def test_token_help_names_every_variable_it_reads() -> None:
    text = subcommands()["token"].format_help()
    for variable in (
        "LEANIX_API_TOKEN",
        "LEANIX_API_TOKEN_FILE",
        "LEANIX_SUBDOMAIN",
        "LEANIX_BASE_URL",
        "XDG_CACHE_HOME",
    ):
        assert re.search(rf"\b{variable}\b", text), variable

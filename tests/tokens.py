"""Helpers for the tests of the core's plain code: settings and answers."""

from __future__ import annotations

import json
from email.utils import formatdate

from leanix_auth._config import Settings, resolve
from leanix_auth._effects import Reply


def settings(refresh: float = 300, mandatory: float = 30) -> Settings:
    return resolve(
        "t",
        subdomain="acme",
        base_url=None,
        token_url=None,
        timeout=10,
        refresh_margin=refresh,
        mandatory_margin=mandatory,
        environ={},
    )


def answer(value: str, date: float | None = None) -> Reply:
    headers = {} if date is None else {"date": formatdate(date, usegmt=True)}
    return Reply(200, headers, json.dumps({"access_token": value, "expires_in": 3599}).encode())

"""The loops that carry out the core's effects fail loudly on one they do not know."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest

from leanix_auth._blocking import drive
from leanix_auth._clock import SYSTEM_CLOCK
from leanix_auth._effects import AccessToken, ExchangeRequest, Failure, Reply


def test_an_unknown_effect_is_an_error_not_a_silent_false() -> None:
    def flow() -> Generator[Any, Any, AccessToken]:
        yield "a new kind of effect"
        raise AssertionError("the flow must not go on")

    def send(request: ExchangeRequest) -> Reply | Failure:
        raise AssertionError("nothing to send")

    with pytest.raises(TypeError, match="no adapter handles the effect 'a new kind of effect'"):
        drive(flow(), send, SYSTEM_CLOCK)

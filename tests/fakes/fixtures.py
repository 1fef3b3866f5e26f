"""The fake provider server and the provider cases as pytest fixtures, for every suite that
runs the providers against it (import the names into the test module)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.provider_server import CASES, ProviderCase, ProviderServer


@pytest.fixture
def server() -> Iterator[ProviderServer]:
    running = ProviderServer().start()
    yield running
    running.stop()


@pytest.fixture(params=sorted(CASES))
def case(request: pytest.FixtureRequest) -> ProviderCase:
    return CASES[request.param]

"""Shared pieces of the collector tests: the sampler file loaded as a module (the very file pushed to phones)."""

import pytest

from collectors.links import load_sampler_module


@pytest.fixture(scope="session")
def sampler():
    return load_sampler_module()

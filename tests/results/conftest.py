"""Two real shard audits, built once and shared (read-only) by the path-safety tests: every test
copies what it mutates, so a hostile edit in one test never leaks into another."""

from __future__ import annotations

import pytest
from support.shards import Shards, make_shards


@pytest.fixture(scope="session")
def shards(tmp_path_factory, tiny_model_file) -> Shards:
    return make_shards(tmp_path_factory.mktemp("shards"), tiny_model_file)

"""Shared by the server tests: the pair most requests send."""

import pytest

from llm2fx_lab.examples import example_pair


@pytest.fixture(scope="module")
def pair():
    """The guitar example's first 3 s: (dry, reference, sample rate)."""
    dry, ref, sr, _ = example_pair("guitar")
    return dry[:, : 3 * sr], ref[:, : 3 * sr], sr

import numpy as np
import pytest

SR = 44100


@pytest.fixture(scope="session")
def noise():
    """3 s of white noise, independent channels, at -20 dBFS RMS."""
    return (0.1 * np.random.default_rng(0).standard_normal((2, 3 * SR))).astype(np.float32)

import numpy as np
import pytest

SR = 44100


@pytest.fixture(scope="session")
def noise():
    """3 s of white noise, independent channels, at -20 dBFS RMS."""
    return (0.1 * np.random.default_rng(0).standard_normal((2, 3 * SR))).astype(np.float32)


@pytest.fixture(scope="session")
def bursts():
    """3 s of noise bursts (0.2 s on, 0.3 s off): sounds with abrupt ends."""
    x = (0.1 * np.random.default_rng(1).standard_normal((2, 3 * SR))).astype(np.float32)
    env = np.zeros(x.shape[1], dtype=np.float32)
    for start in np.arange(0, 3, 0.5):
        env[int(start * SR):int((start + 0.2) * SR)] = 1
    return x * env


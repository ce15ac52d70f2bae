import jax
import numpy as np
import pytest
from hypothesis import HealthCheck, settings

# Numerics in tests are float64 (Born-rule behaviours must validate at 1e-9).
jax.config.update("jax_enable_x64", True)

settings.register_profile("ci", max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("ci")


@pytest.fixture
def rng():
    return np.random.default_rng(12345)

"""discover: searches over parametrised quantum strategies that maximise (predicted) nonlocality.

Not built yet: gradient (JAX autodiff through the Born rule and a surrogate) and nevergrad searchers,
one shared loop and trace, and certification of every candidate with ``certify``. Nothing here works yet.
"""

__all__: list[str] = []

"""Network descriptions: independent sources, each feeding a set of parties (docs/networks.md).

A ``NetworkScenario`` lists the parties (name, number of settings, number of outcomes) and the sources (the
parties each one feeds). Behaviours are ``p[a_1, ..., a_n, x_1, ..., x_n]`` like every scenario (outcomes of
every party first, then their settings, parties in the listed order); a party without input has
``settings = 1`` (a size-1 settings axis).

Instances: ``bilocal_network`` (A - B - C), ``triangle``, ``chain`` (n-local chain, n sources, n + 1 parties)
and ``star`` (n-local star: n leaves and a centre). The JSON / TOML form::

    {"kind": "network",
     "parties": {"A": {"settings": 1, "outcomes": 2}, "B": {...}, "C": {...}},
     "sources": [["B", "C"], ["A", "C"], ["A", "B"]]}
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ._behaviour import Behaviour, as_behaviour
from ._scenario import BILOCAL_VARIANTS, Scenario

__all__ = [
    "NetworkScenario",
    "network_from_json",
    "network_behaviour",
    "bilocal_network",
    "triangle",
    "chain",
    "star",
    "ghz_triangle",
    "w_triangle",
]


@dataclass(frozen=True)
class NetworkScenario(Scenario):
    """A network of independent sources.

    Attributes:
        names: party names, in the order of the behaviour's axes.
        outcomes: number of outcomes per party (>= 2).
        settings: number of settings per party (>= 1; 1 = no input).
        sources: per source, the sorted indices of the parties it feeds.
    Raises ``ValueError`` (one line) for a source feeding no party or an unknown / repeated party, a party fed
    by no source, or bad counts.
    """

    names: tuple[str, ...]
    outcomes: tuple[int, ...]
    settings: tuple[int, ...]
    sources: tuple[tuple[int, ...], ...]

    def __post_init__(self):
        names = tuple(str(n) for n in self.names)
        n = len(names)
        if n == 0:
            raise ValueError("a network needs at least one party")
        if len(set(names)) != n:
            raise ValueError(f"party names must be distinct; got {list(names)}")
        if len(self.outcomes) != n or len(self.settings) != n:
            raise ValueError(f"need one outcome count and one settings count per party ({n} parties)")
        for name, d, m in zip(names, self.outcomes, self.settings):
            if not _is_int(d) or d < 2:
                raise ValueError(f"party {name!r}: outcomes must be an integer >= 2; got {d!r}")
            if not _is_int(m) or m < 1:
                raise ValueError(f"party {name!r}: settings must be an integer >= 1 (1 = no input); got {m!r}")
        if len(self.sources) == 0:
            raise ValueError("a network needs at least one source")
        srcs = []
        for i, s in enumerate(self.sources):
            s = tuple(int(j) for j in s)
            if not s:
                raise ValueError(f"source {i} feeds no party")
            if len(set(s)) != len(s):
                raise ValueError(f"source {i} feeds party {names[s[0]]!r} more than once")
            bad = [j for j in s if not 0 <= j < n]
            if bad:
                raise ValueError(f"source {i} feeds unknown party index {bad[0]}")
            srcs.append(tuple(sorted(s)))
        fed = {j for s in srcs for j in s}
        for j, name in enumerate(names):
            if j not in fed:
                raise ValueError(f"party {name!r} receives no source")
        object.__setattr__(self, "names", names)
        object.__setattr__(self, "outcomes", tuple(int(d) for d in self.outcomes))
        object.__setattr__(self, "settings", tuple(int(m) for m in self.settings))
        object.__setattr__(self, "sources", tuple(srcs))

    @classmethod
    def build(cls, parties: dict[str, tuple[int, int]] | list, sources: list) -> "NetworkScenario":
        """From ``{name: (settings, outcomes)}`` (or a list of ``(name, settings, outcomes)``) and a list of sources,
        each a list of party names."""
        items = list(parties.items()) if isinstance(parties, dict) else [(p[0], tuple(p[1:])) for p in parties]
        names = [str(k) for k, _ in items]
        index = {k: i for i, k in enumerate(names)}
        srcs = []
        for i, s in enumerate(sources):
            if isinstance(s, str) or not hasattr(s, "__iter__"):
                raise ValueError(f"source {i} must be a list of party names; got {s!r}")
            idx = []
            for name in s:
                if name not in index:
                    raise ValueError(f"source {i} feeds unknown party {name!r}; parties are {names}")
                idx.append(index[name])
            srcs.append(tuple(idx))
        return cls(tuple(names), tuple(v[1] for _, v in items), tuple(v[0] for _, v in items), tuple(srcs))

    # ------------------------------------------------------------------------------------------ structure
    @property
    def n_sources(self) -> int:
        return len(self.sources)

    def party_sources(self, j: int) -> tuple[int, ...]:
        """Indices of the sources feeding party ``j`` (increasing)."""
        return tuple(s for s, parties in enumerate(self.sources) if j in parties)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": "network",
            "parties": {n: {"settings": m, "outcomes": d} for n, m, d in zip(self.names, self.settings, self.outcomes)},
            "sources": [[self.names[j] for j in s] for s in self.sources],
        }

    def __str__(self) -> str:
        src = " ".join("(" + ",".join(self.names[j] for j in s) + ")" for s in self.sources)
        par = ",".join(f"{n}[{m}x{d}]" for n, m, d in zip(self.names, self.settings, self.outcomes))
        return f"network({par}; sources {src})"


def network_from_json(obj: dict[str, Any]) -> NetworkScenario:
    """A ``NetworkScenario`` from its JSON (or TOML, via ``tomllib``) form; strict, one-line ``ValueError``."""
    if not isinstance(obj, dict):
        raise ValueError(f"network scenario must be an object; got {str(obj)[:60]}")
    if obj.get("kind", "network") != "network":
        raise ValueError(f"expected a scenario of kind 'network'; got {str(obj.get('kind'))[:40]!r}")
    extra = sorted(set(obj) - {"kind", "parties", "sources"})
    if extra:
        raise ValueError(f"network scenario: unknown field(s) {', '.join(map(repr, extra))}")
    parties = obj.get("parties")
    if not isinstance(parties, dict) or not parties:
        raise ValueError('network scenario needs "parties": {"A": {"settings": 1, "outcomes": 2}, ...}')
    spec = {}
    for name, p in parties.items():
        if not isinstance(p, dict) or set(p) - {"settings", "outcomes"}:
            raise ValueError(f'party {name!r} must be {{"settings": m, "outcomes": d}}; got {str(p)[:60]}')
        m, d = p.get("settings", 1), p.get("outcomes")
        if type(m) is not int or type(d) is not int:
            raise ValueError(f"party {name!r}: settings and outcomes must be integers; got {m!r}, {d!r}")
        spec[name] = (m, d)
    sources = obj.get("sources")
    if not isinstance(sources, list) or not sources:
        raise ValueError('network scenario needs "sources": a list of lists of party names, e.g. [["A", "B"]]')
    return NetworkScenario.build(spec, sources)


def network_behaviour(p, scenario: NetworkScenario, validate: bool = True) -> Behaviour:
    """One float64 ``Behaviour`` of ``scenario``: shape ``(*outcomes, *settings)``, validated (non-negative,
    normalised, no-signalling; tolerance of the input's dtype, at least 1e-9). One-line ``ValueError``."""
    if not isinstance(scenario, NetworkScenario):
        raise ValueError(f"expected a NetworkScenario; got {scenario!r}")
    arr = p.p if isinstance(p, Behaviour) else p
    shape = tuple(np.shape(arr))
    if shape != scenario.shape:
        raise ValueError(
            f"a behaviour of {scenario} has shape {scenario.shape} (outcomes of {', '.join(scenario.names)}, then "
            f"their settings); got {shape}"
        )
    return as_behaviour(np.asarray(arr), scenario, validate=validate, batch=False)


def _is_int(v) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


# ------------------------------------------------------------------------------------------ instances
def bilocal_network(variant: str = "binary") -> NetworkScenario:
    """A - B - C with sources (A, B), (B, C); ``binary`` (every party 2 settings, 2 outcomes) or ``bsm`` (B: one
    setting, 4 outcomes): the same array shapes as ``BilocalScenario``."""
    if variant not in BILOCAL_VARIANTS:
        raise ValueError(f"unknown bilocal variant {variant!r}; expected 'binary' or 'bsm'")
    b = (2, 2) if variant == "binary" else (1, 4)
    return NetworkScenario.build({"A": (2, 2), "B": b, "C": (2, 2)}, [["A", "B"], ["B", "C"]])


def triangle(outcomes: int = 2, settings: int = 1) -> NetworkScenario:
    """The triangle: sources alpha -> (B, C), beta -> (A, C), gamma -> (A, B)."""
    return NetworkScenario.build(
        {k: (settings, outcomes) for k in "ABC"}, [["B", "C"], ["A", "C"], ["A", "B"]]
    )


def chain(n: int, outcomes: int = 2, settings: int = 2) -> NetworkScenario:
    """The n-local chain A1 - A2 - ... - A(n+1): source i feeds (Ai, A(i+1)); n = 2 is the bilocal network."""
    if int(n) < 1:
        raise ValueError(f"a chain needs n >= 1 sources; got {n!r}")
    names = [f"A{i + 1}" for i in range(n + 1)]
    return NetworkScenario.build({k: (settings, outcomes) for k in names}, [[names[i], names[i + 1]] for i in range(n)])


def star(n: int, outcomes: int = 2, settings: int = 2) -> NetworkScenario:
    """The n-local star: leaves A1..An, then the centre B; source i feeds (Ai, B)."""
    if int(n) < 1:
        raise ValueError(f"a star needs n >= 1 sources; got {n!r}")
    names = [f"A{i + 1}" for i in range(n)] + ["B"]
    return NetworkScenario.build({k: (settings, outcomes) for k in names}, [[names[i], "B"] for i in range(n)])


def ghz_triangle(v: float = 1.0) -> Behaviour:
    """GHZ-type triangle distribution (a = b = c uniformly, binary, no inputs) mixed with white noise:
    ``v * GHZ + (1 - v) / 8``."""
    p = np.zeros((2, 2, 2, 1, 1, 1))
    p[0, 0, 0], p[1, 1, 1] = 0.5, 0.5
    return Behaviour(v * p + (1 - v) / 8, triangle())


def w_triangle(v: float = 1.0) -> Behaviour:
    """W-type triangle distribution (exactly one party outputs 1, uniformly; binary, no inputs) mixed with white
    noise: ``v * W + (1 - v) / 8``."""
    p = np.zeros((2, 2, 2, 1, 1, 1))
    p[1, 0, 0], p[0, 1, 0], p[0, 0, 1] = 1 / 3, 1 / 3, 1 / 3
    return Behaviour(v * p + (1 - v) / 8, triangle())

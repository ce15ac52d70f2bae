"""``Behaviour``: the one data type that flows through bellscope."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ._scenario import Scenario, infer_scenario, scenario_from_json

__all__ = ["Behaviour", "default_tolerance", "as_behaviour", "real_array"]


def default_tolerance(dtype) -> float:
    """Validation tolerance suited to the precision of a dtype.

    1e-9 for float64 and exact types (integers, booleans: a 0/1 deterministic point); 1e-5 for float32 (JAX's
    default: a Born-rule behaviour in float32 is off by ~1e-7 per entry, sums over 16-64 entries by more);
    ``100 * eps`` for narrower floats (float16: ~0.1, so such data are better cast before they arrive).
    """
    dt = np.dtype(dtype)
    if dt.kind == "c":
        dt = np.empty(0, dt).real.dtype
    if dt.kind != "f" or dt.itemsize >= 8:
        return 1e-9
    return 1e-5 if dt.itemsize == 4 else float(100 * np.finfo(dt).eps)


def real_array(arr: np.ndarray, where: str = "") -> np.ndarray:
    """``arr`` with its own precision kept (float32 stays float32, so validation can follow it). Complex arrays are
    refused even with a zero imaginary part: probabilities are real, and a complex array says that a step that
    should have taken the real part (a Born-rule trace) did not. Raises ``ValueError`` prefixed by ``where``."""
    prefix = f"{where}: " if where else ""
    if arr.dtype.kind == "c":
        imag = float(np.abs(arr.imag).max(initial=0.0))
        raise ValueError(f"{prefix}complex probabilities (imaginary part up to {imag:.3g}); probabilities are real: "
                         "pass the real part")
    if arr.dtype.kind not in "fiub":
        raise ValueError(f"{prefix}dtype {arr.dtype} is not numeric")
    return arr


def as_behaviour(p, scenario: Scenario | None = None, *, validate: bool = True, batch: bool = True) -> "Behaviour":
    """A float64 numpy ``Behaviour`` from what users hand over, validated at the precision it came in.

    Args:
        p: a ``Behaviour``, a numpy or JAX array (float64, float32, integer), or nested lists of numbers.
        scenario: the scenario; default: the ``Behaviour``'s own, else inferred from the array's shape.
        validate: run ``Behaviour.validate`` with ``default_tolerance`` of the *input* dtype (float32 from a JAX
            search validates at 1e-5, float64 at 1e-9), before the cast to float64.
        batch: allow leading batch axes (``False``: exactly one behaviour).
    Raises:
        ValueError: not numeric, complex, wrong shape, or invalid.
    """
    if isinstance(p, Behaviour):
        scenario = p.scenario if scenario is None else scenario
        p = p.p
    try:
        arr = np.asarray(p)
    except (TypeError, ValueError) as e:
        raise ValueError(f"not an array of numbers: {e}") from None
    arr = real_array(arr, "not an array of numbers")
    atol = default_tolerance(arr.dtype)
    beh = Behaviour(np.asarray(arr, dtype=np.float64), scenario)
    if not batch and beh.is_batch:
        raise ValueError(f"expected one behaviour; got a batch of shape {beh.batch_shape}")
    if validate:
        beh.validate(atol=atol)
    return beh


@jax.tree_util.register_pytree_node_class
class Behaviour:
    """Conditional probabilities ``p[outcomes..., settings...]`` of a scenario, optionally batched.

    Attributes:
        p: array of shape ``(*batch_shape, *scenario.shape)``; a numpy or JAX array. ``Behaviour`` is a JAX
            pytree whose only leaf is ``p``, so it passes through ``jax.jit`` / ``jax.grad`` / ``jax.vmap``.
        scenario: the ``Scenario`` (static pytree metadata).

    Immutable. Construction checks the shape only (cheap and trace-safe); call ``validate()`` to check the
    numbers. (A plain class rather than an ``equinox.Module``: behaviours are created in the hot loop of
    every certification, where a Module's attribute machinery cost more than the LP at m = 2.)
    """

    __slots__ = ("p", "scenario")
    p: Any
    scenario: Scenario

    def __init__(self, p, scenario: Scenario | None = None):
        if not hasattr(p, "shape"):
            p = np.asarray(p, dtype=np.float64)
        if scenario is None:
            scenario, _ = infer_scenario(p.shape)
        k = len(scenario.shape)
        if tuple(p.shape[len(p.shape) - k :]) != scenario.shape or len(p.shape) < k:
            raise ValueError(
                f"array of shape {tuple(p.shape)} does not fit scenario {scenario}: its trailing axes must be "
                f"{scenario.shape} (outcomes first, then settings)"
            )
        object.__setattr__(self, "p", p)
        object.__setattr__(self, "scenario", scenario)

    def __setattr__(self, name, value):
        raise AttributeError("Behaviour is immutable")

    def tree_flatten(self):
        return (self.p,), self.scenario

    @classmethod
    def tree_unflatten(cls, scenario, children):
        # bypass __init__: JAX may rebuild a pytree with placeholder leaves that have no shape
        obj = object.__new__(cls)
        object.__setattr__(obj, "p", children[0])
        object.__setattr__(obj, "scenario", scenario)
        return obj

    # ----------------------------------------------------------------------------------------- shape
    @property
    def batch_shape(self) -> tuple[int, ...]:
        return tuple(self.p.shape[: self.p.ndim - len(self.scenario.shape)])

    @property
    def is_batch(self) -> bool:
        return len(self.batch_shape) > 0

    def __len__(self) -> int:
        if not self.is_batch:
            raise TypeError("a single behaviour has no length; only batches do")
        return self.batch_shape[0]

    def __getitem__(self, index) -> "Behaviour":
        """Index the batch axes (never the scenario axes)."""
        if not self.is_batch:
            raise TypeError("cannot index a single behaviour; index its array .p instead")
        out = self.p[index]
        return Behaviour(out, self.scenario)

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    def numpy(self) -> np.ndarray:
        """The probabilities as a float64 numpy array (a copy only when needed)."""
        return np.asarray(self.p, dtype=np.float64)

    def flatten_batch(self) -> "Behaviour":
        """Same behaviours with the batch axes merged into one leading axis (a single one gets a size-1 axis)."""
        return Behaviour(self.p.reshape((-1,) + self.scenario.shape), self.scenario)

    # ------------------------------------------------------------------------------------ validation
    def validate(self, atol: float | None = None) -> "Behaviour":
        """Check that every behaviour is a valid no-signalling behaviour; return ``self``.

        Checks, in this order: finite entries; entries >= -atol; for every setting combination the sum over
        outcomes is 1 within atol; for every party, the marginal of the others does not depend on that
        party's setting (no-signalling) within atol. Raises ``ValueError`` naming the first problem, the
        behaviour (for a batch) and its size.
        """
        p = self.numpy()
        sc = self.scenario
        atol = default_tolerance(np.asarray(self.p).dtype) if atol is None else float(atol)
        if _clearly_valid(p.reshape(-1, sc.size), sc, atol):
            return self
        n, nb = sc.n_parties, len(self.batch_shape)
        where = lambda idx: f" (behaviour {idx[:nb]})" if nb else ""  # noqa: E731

        if not np.all(np.isfinite(p)):
            idx = tuple(int(i) for i in np.argwhere(~np.isfinite(p))[0])
            raise ValueError(f"not finite: entry {idx[nb:]} is {p[idx]}{where(idx)}")
        if p.size and p.min() < -atol:
            idx = np.unravel_index(np.argmin(p), p.shape)
            idx = tuple(int(i) for i in idx)
            raise ValueError(f"negative probability: entry {idx[nb:]} is {p[idx]:.3g} (tolerance {atol:.3g}){where(idx)}")
        out_axes = tuple(range(nb, nb + n))
        sums = p.sum(axis=out_axes)  # (*batch, *settings)
        err = np.abs(sums - 1.0)
        if err.size and err.max() > atol:
            idx = tuple(int(i) for i in np.unravel_index(np.argmax(err), err.shape))
            names = ",".join(f"{s}={v}" for s, v in zip(_setting_names(n), idx[nb:]))
            raise ValueError(
                f"not normalised: sum over outcomes for {names} is {sums[idx]:.12g}, off by {err[idx]:.3g} "
                f"(tolerance {atol:.3g}){where(idx)}"
            )
        for k in range(n):
            marg = p.sum(axis=nb + k)  # drop party k's outcome; its setting axis is nb + n - 1 + k now
            s_axis = nb + n - 1 + k
            dev = np.max(marg, axis=s_axis) - np.min(marg, axis=s_axis)
            if dev.size and dev.max() > atol:
                idx = tuple(int(i) for i in np.unravel_index(np.argmax(dev), dev.shape))
                raise ValueError(
                    f"signalling: the marginal of the other parties changes with party {_party_name(k)}'s "
                    f"setting by up to {dev.max():.3g} (tolerance {atol:.3g}){where(idx)}"
                )
        return self

    def is_valid(self, atol: float | None = None) -> bool:
        try:
            self.validate(atol)
        except ValueError:
            return False
        return True

    # ------------------------------------------------------------------------------------ operations
    @classmethod
    def uniform(cls, scenario: Scenario) -> "Behaviour":
        """White noise: every outcome combination equally likely for every setting combination."""
        n_out = np.prod(scenario.outcomes)
        return cls(np.full(scenario.shape, 1.0 / n_out), scenario)

    def mix(self, v, other: "Behaviour | None" = None) -> "Behaviour":
        """``v * self + (1 - v) * other`` (``other`` defaults to white noise)."""
        q = Behaviour.uniform(self.scenario).p if other is None else other.p
        return Behaviour(v * self.p + (1 - v) * q, self.scenario)

    def distance(self, other: "Behaviour") -> Any:
        """Normalised L1 distance ``1/(2 #settings) * sum |p - q|`` (batched over leading axes)."""
        axes = tuple(range(-len(self.scenario.shape), 0))
        xp = jnp if _is_jax(self.p) or _is_jax(other.p) else np
        return self.scenario.normalisation * xp.abs(self.p - other.p).sum(axis=axes)

    # --------------------------------------------------------------------------------- views (binary)
    def correlator(self, parties: tuple[int, ...]) -> Any:
        """Full correlator <prod_{k in parties} (-1)^{a_k}> for binary-outcome parties.

        Returns an array of shape ``(*batch, *settings of those parties)``. Outcome 0 <-> eigenvalue +1.
        A party with more than two outcomes is not supported here (see the bilocal module for B's BSM).
        """
        sc, nb = self.scenario, len(self.batch_shape)
        for k in parties:
            if sc.outcomes[k] != 2:
                raise ValueError(f"party {_party_name(k)} has {sc.outcomes[k]} outcomes; correlators need 2")
        sign = np.ones(sc.outcomes)
        for k in parties:
            shape = [1] * sc.n_parties
            shape[k] = 2
            sign = sign * np.array([1.0, -1.0]).reshape(shape)
        sign = sign.reshape(sc.outcomes + (1,) * sc.n_parties)
        val = (self.p * sign).sum(axis=tuple(range(nb, nb + sc.n_parties)))
        others = [k for k in range(sc.n_parties) if k not in parties]
        # settings of parties not involved are irrelevant under no-signalling: take setting 0.
        idx = [slice(None)] * nb + [0 if k in others else slice(None) for k in range(sc.n_parties)]
        return val[tuple(idx)]

    def correlators(self) -> Any:
        """Bipartite correlators ``E[..., x, y]`` (binary outcomes)."""
        return self.correlator(tuple(range(self.scenario.n_parties)))

    def marginals(self) -> tuple[Any, ...]:
        """One-body correlators <(-1)^{a_k}>, one array ``(*batch, m_k)`` per party."""
        return tuple(self.correlator((k,)) for k in range(self.scenario.n_parties))

    # ------------------------------------------------------------------------------------------ io
    def to_json(self) -> dict[str, Any]:
        return {"scenario": self.scenario.to_json(), "p": self.numpy().tolist()}

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> "Behaviour":
        """From ``{"scenario": {...}, "p": nested lists}``; ``p`` may hold a batch (leading axis)."""
        if not isinstance(obj, dict) or "p" not in obj:
            raise ValueError("a behaviour JSON object needs a 'p' field (and usually a 'scenario')")
        scenario = scenario_from_json(obj["scenario"]) if "scenario" in obj else None
        try:
            p = np.asarray(obj["p"], dtype=np.float64)
        except (ValueError, TypeError) as e:
            raise ValueError(f"'p' is not a rectangular array of numbers: {e}") from None
        return cls(p, scenario)

    def __repr__(self) -> str:
        b = f", batch={self.batch_shape}" if self.is_batch else ""
        return f"Behaviour({self.scenario}{b})"


def _clearly_valid(flat: np.ndarray, sc: Scenario, atol: float) -> bool:
    """Fast path of ``validate``: a few matrix products that, when all within tolerance, imply every check passes.

    Signalling is tested against setting 0 at ``atol / 2`` (so any two settings differ by at most ``atol``), with a
    1e-6 relative margin for summation order. NaN fails every comparison, so anything doubtful goes on to the
    detailed checks, which name the problem.
    """
    margin = atol * (1 - 1e-6)
    ns = sc.no_signalling_constraints()
    with np.errstate(invalid="ignore"):
        return bool(
            flat.size
            and flat.min() >= -atol
            and np.abs(flat @ ns.normalisation.T - 1.0).max() <= margin
            and np.abs(flat @ ns.signalling.T).max(initial=0.0) <= margin / 2
        )


def _is_jax(x) -> bool:
    return not isinstance(x, np.ndarray) and hasattr(x, "devices")


def _party_name(k: int) -> str:
    return "ABCDEFGH"[k] if k < 8 else str(k)


def _setting_names(n: int) -> list[str]:
    return ["x", "y", "z", "w"][:n] if n <= 4 else [f"x{i}" for i in range(n)]

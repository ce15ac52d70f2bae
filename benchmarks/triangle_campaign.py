"""Triangle discovery campaign over the quantum family (docs/networks.md "Triangle discovery").

    PYTHONPATH=. python benchmarks/triangle_campaign.py --outcomes 2
    PYTHONPATH=. python benchmarks/triangle_campaign.py --outcomes 4 --fritz-start --inflations 112,221 --time-limit 400

Runs ``discover.network_search`` on ``family_from_spec({"scenario": "triangle", "outcomes": o})`` (one pure
two-qubit state per source, projective joint measurements, no inputs): random search and gradient ascent on the
certified fanout lower bound of ``--copies`` at the amplified behaviour (``--amplify``), then gradient ascent on the
exact bound (``--refine-steps``), then certifies the ``--top`` best distinct candidates with
``certify.network_nonlocality``. Prints each candidate's interval, the inflation that gave its lower bound and its
seconds, beside reference points certified the same way: GHZ / W (binary) and, with 4 outcomes, Fritz's
distribution written as a member of the family (``fritz_strategy``). ``--fritz-start`` puts Fritz's parameters among
the gradient searcher's starts and certifies that start as it is (searcher ``start``: seeded, not found). Wall times are those of this machine under the load printed (``uptime``).
"""

from __future__ import annotations

import argparse
import json
import os
import time

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

import bellcore
import certify
import discover


def _h_of(u: np.ndarray) -> np.ndarray:
    """The real 4x4 leaf whose Cayley transform is ``u`` (a global phase keeps -1 out of u's spectrum)."""
    u = np.exp(0.3j) * u
    eye = np.eye(4)
    herm = -1j * (u - eye) @ np.linalg.inv(u + eye)
    herm = (herm + herm.conj().T) / 2
    return np.triu(herm.real) + np.tril(herm.imag, -1)


def fritz_strategy(dtype=jnp.float32) -> discover.TriangleStrategy:
    """Fritz's triangle distribution as a family member: alpha and beta |Phi+> read in Z by both ends (shared random
    bits y and x), gamma |Phi+> measured by A in Z / X as x says and by B in (Z +- X)/sqrt2 as y says (CHSH); A
    outputs (x, a), B (y, b), C (y, x)."""
    def ctrl(v0, v1):
        u = np.zeros((4, 4), complex)
        u[:2, :2], u[2:, 2:] = v0, v1
        return u

    def rot(t):
        return np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])

    had = np.array([[1, 1], [1, -1]]) / np.sqrt(2)
    phi = discover.PureState(jnp.asarray([1.0, 0, 0, 1], dtype), jnp.zeros(4, dtype))
    meas = [discover.JointMeasurement(jnp.asarray(_h_of(u)[None], dtype), (0, 1, 2, 3))
            for u in (ctrl(np.eye(2), had), ctrl(rot(np.pi / 8), rot(-np.pi / 8)), np.eye(4))]
    return discover.TriangleStrategy(phi, phi, phi, *meas)


def _copies(text: str) -> tuple[int, ...]:
    return tuple(int(c) for c in text.replace(",", ""))


def _row(name, res, extra="") -> str:
    return (f"| {name} | [{res.lower:.4f}, {res.upper:.4f}] | {res.inflation or '-'} | {res.status.value} | "
            f"{res.seconds:.1f} |{extra}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--outcomes", type=int, default=2)
    ap.add_argument("--copies", default="112", help="search inflation, e.g. 112 for fanout(1,1,2)")
    ap.add_argument("--amplify", type=float, default=3.0)
    ap.add_argument("--eval-time-limit", type=float, default=10.0, help="seconds of LPs per search evaluation")
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--starts", type=int, default=8)
    ap.add_argument("--refine-steps", type=int, default=6)
    ap.add_argument("--top", type=int, default=4)
    ap.add_argument("--time-limit", type=float, default=60.0, help="seconds per certification")
    ap.add_argument("--inflations", default="", help="certification ladder, e.g. 112,221 (default: certify's)")
    ap.add_argument("--fritz-start", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default="")
    args = ap.parse_args()

    print(f"load at start: {os.getloadavg()}")
    fam = discover.family_from_spec({"scenario": "triangle", "outcomes": args.outcomes})
    opts = {"time_limit": args.time_limit}
    if args.inflations:
        opts["inflations"] = [_copies(c) for c in args.inflations.split(",")]
    starts = None
    if args.fritz_start:
        if args.outcomes != 4:
            raise SystemExit("error: --fritz-start needs --outcomes 4")
        starts = np.asarray(ravel_pytree(discover.params_of(fritz_strategy())[0])[0])[None]
    t0 = time.perf_counter()
    out = discover.network_search(
        fam, copies=_copies(args.copies), amplify=args.amplify, eval_time_limit=args.eval_time_limit,
        searchers=[discover.RandomSearch(batch=args.batch), discover.GradientSearch(starts=args.starts)],
        steps=args.steps, refine_steps=args.refine_steps, top=args.top, seed=args.seed, starts=starts,
        certify_starts=starts is not None,
        certify_options=opts, progress=lambda stage, info: print(stage, info, flush=True))
    wall = time.perf_counter() - t0
    print(f"\ncampaign: {wall:.1f} s (search {out.search_seconds:.1f} s, certification {out.certify_seconds:.1f} s), "
          f"load at end {os.getloadavg()}")
    print("\n| point | interval [lower, upper] | inflation giving lower | status | seconds | searcher | search value |")
    print("|---|---|---|---|---|---|---|")
    for i, c in enumerate(out.candidates):
        print(_row(f"candidate {i + 1}{' (discovery)' if c.discovery else ''}", c.result,
                   f" {c.searcher} | {c.search_value:.4f} |"))
    if args.outcomes == 4 and args.fritz_start:
        refs_skip = True  # the Fritz start is certified among the candidates (searcher "start")
    else:
        refs_skip = False
    refs = []
    if args.outcomes == 2:
        refs = [("GHZ-type", bellcore.ghz_triangle().p), ("W-type", bellcore.w_triangle().p)]
    if args.outcomes == 4 and not refs_skip:
        refs = [("Fritz (family member)", fritz_strategy().behaviour(np.float64).p)]
    ref_json = {}
    for name, p in refs:
        res = certify.network_nonlocality(p, bellcore.triangle(args.outcomes), **opts)
        print(_row(f"reference: {name}", res, " - | - |"))
        ref_json[name] = {"lower": res.lower, "upper": res.upper, "inflation": res.inflation, "seconds": res.seconds,
                          "discovery": discover.is_discovery(res, discover.Constraints(), bilocal=False)}
    secs = [c.result.seconds for c in out.candidates]
    if secs:
        print(f"\nseconds per certified interval (candidates): mean {np.mean(secs):.1f}, "
              f"min {min(secs):.1f}, max {max(secs):.1f}; discoveries {len(out.discoveries)} / {len(out.candidates)}")
    print(f"load at end: {os.getloadavg()}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "wall": wall, "result": out.to_json(), "references": ref_json}, f)


if __name__ == "__main__":
    jax.config.update("jax_enable_x64", False)
    main()

"""``bellscope demo``: the main job on small defaults.

Certifies the reference behaviours whose values are known in closed form (``bellcore.golden``, docs/golden.md) and prints, for
each, the certified value, the closed form and their difference: a one-minute end-to-end check that the
installation gives the right numbers.
"""

from __future__ import annotations

import typer



def _references():
    """(name, behaviour, NL closed form, visibility closed form or None where the NL value is only a bound)."""
    import bellcore as bc

    g = bc.golden
    rows = [
        ("PR box", bc.pr_box(), g.NL_PR_BOX, g.VISIBILITY_PR_BOX),
        ("Tsirelson point", bc.tsirelson(), g.NL_TSIRELSON, g.VISIBILITY_TSIRELSON),
        ("isotropic PR v=0.8", bc.isotropic_pr(0.8), g.nl_isotropic_pr(0.8), g.visibility_isotropic_pr(0.8)),
        ("isotropic PR v=0.4", bc.isotropic_pr(0.4), g.nl_isotropic_pr(0.4), g.visibility_isotropic_pr(0.4)),
        ("Werner v=0.9, CHSH", bc.werner_chsh(0.9), g.nl_werner_chsh(0.9), g.visibility_werner_chsh(0.9)),
        ("chained m=3", bc.chained(3), g.nl_chained_bound(3), g.visibility_chained(3)),
    ]
    for m in (3, 4, 5):
        rows.append((f"Tsirelson in m={m}", bc.embed(bc.tsirelson(), m), g.nl_embedded(g.NL_TSIRELSON, m), g.VISIBILITY_TSIRELSON))
    for m in (4, 5):  # NL >= the chained bound, with equality only at m = 3: report the bound, not a closed form
        rows.append((f"chained m={m} (NL >= bound)", bc.chained(m), g.nl_chained_bound(m), None))
    return rows


def _bilocal_references():
    import bellcore as bc

    return [
        (f"Werner v={v}, BRGP ({variant})", bc.bilocal_werner(v, variant), bc.golden.nbl_werner(v, variant))
        for v in (0.6, 0.9)
        for variant in ("binary", "bsm")
    ]


def demo_cmd(
    as_json: bool = typer.Option(False, "--json", help="Machine-readable rows on stdout."),
    tol: float = typer.Option(1e-4, "--tol", help="Gap at which the NBL branch-and-bound stops."),
) -> None:
    """Certify reference behaviours against their closed forms (docs/golden.md).

    NL and visibility of the PR box, Tsirelson point, isotropic PR, Werner/CHSH, chained and embedded
    behaviours; NBL intervals of the entanglement-swapping Werner family (binary and BSM variants).
    """
    import json

    import certify
    from certify import ZERO_TOL
    from rich.console import Console
    from rich.table import Table

    rows = []
    for name, beh, nl_exact, vis_exact in _references():
        nl = certify.nonlocality(beh)
        vis = certify.visibility(beh)
        rows.append(
            {
                "behaviour": name,
                "scenario": str(beh.scenario),
                "nl": nl.value,
                "nl_expected": nl_exact,
                "nl_bound_only": vis_exact is None,
                "visibility": vis.value,
                "visibility_expected": vis_exact,
                "nonlocal": nl.is_nonlocal,
                "certified": nl.certificate_checked and vis.certificate_checked,
            }
        )
    nbl_rows = []
    for name, beh, nbl_exact in _bilocal_references():
        r = certify.nonbilocality(beh, tol=tol)
        nbl_rows.append(
            {
                "behaviour": name,
                "scenario": str(beh.scenario),
                "nbl_lower": r.lower,
                "nbl_upper": r.upper,
                "nbl_expected": nbl_exact,
                "status": str(r.status),
                "certified": r.certificate_checked and r.lower - ZERO_TOL <= nbl_exact <= r.upper + ZERO_TOL,
            }
        )
    ok = all(r["certified"] for r in rows + nbl_rows) and all(
        (r["nl"] >= r["nl_expected"] - ZERO_TOL) if r["nl_bound_only"] else abs(r["nl"] - r["nl_expected"]) < 1e-8 for r in rows
    )
    if as_json:
        for r in rows + nbl_rows:
            typer.echo(json.dumps(r))
    else:
        t = Table(title="bellscope demo: certified NL and visibility of reference behaviours")
        for c in ("behaviour", "NL", "expected", "|diff|", "visibility", "expected", "certificate"):
            t.add_column(c, no_wrap=True)
        for r in rows:
            diff = "(bound)" if r["nl_bound_only"] else f"{abs(r['nl'] - r['nl_expected']):.1e}"
            vexp = "-" if r["visibility_expected"] is None else f"{r['visibility_expected']:.8f}"
            t.add_row(
                r["behaviour"], f"{r['nl']:.8f}", f"{r['nl_expected']:.8f}", diff,
                f"{r['visibility']:.8f}", vexp, "checked" if r["certified"] else "FAILED",
            )
        console = Console(width=max(120, Console().width))
        console.print(t)
        t = Table(title=f"certified NBL intervals (tol {tol:g}) of the entanglement-swapping Werner family")
        for c in ("behaviour", "lower", "upper", "expected", "status", "certificate"):
            t.add_column(c, no_wrap=True)
        for r in nbl_rows:
            t.add_row(
                r["behaviour"], f"{r['nbl_lower']:.8f}", f"{r['nbl_upper']:.8f}", f"{r['nbl_expected']:.8f}",
                r["status"], "checked" if r["certified"] else "FAILED",
            )
        console.print(t)
    if not ok:
        typer.echo("error: a certified value disagrees with its closed form", err=True)
        raise typer.Exit(1)

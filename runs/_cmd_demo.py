"""``bellscope demo``: the main job on small defaults.

Certifies the reference behaviours of SCIENCE.md whose values are known in closed form and prints, for
each, the certified value, the closed form and their difference: a one-minute end-to-end check that the
installation gives the right numbers.
"""

from __future__ import annotations

import math

import typer



def _references():
    import bellcore as bc

    s2 = math.sqrt(2)
    rows = [
        ("PR box", bc.pr_box(), 0.25, 0.5),
        ("Tsirelson point", bc.tsirelson(), (s2 - 1) / 4, 1 / s2),
        ("isotropic PR v=0.8", bc.isotropic_pr(0.8), (0.8 - 0.5) / 2, 0.5 / 0.8),
        ("isotropic PR v=0.4", bc.isotropic_pr(0.4), 0.0, 1.0),
        ("Werner v=0.9, CHSH", bc.werner_chsh(0.9), max(0.0, (2 * s2 * 0.9 - 2) / 8), 1 / (s2 * 0.9)),
        ("chained m=3", bc.chained(3), (3 * math.sqrt(3) - 4) / 18, 4 / (6 * math.cos(math.pi / 6))),
    ]
    for m in (3, 4, 5):
        rows.append((f"Tsirelson in m={m}", bc.embed(bc.tsirelson(), m), 4 * (s2 - 1) / 4 / m**2, 1 / s2))
    for m in (4, 5):
        # NL >= (I_m - 2m + 2)/(2m^2) (equality only at m = 3): report the bound, not a closed form.
        i_m = 2 * m * math.cos(math.pi / (2 * m))
        rows.append((f"chained m={m} (NL >= bound)", bc.chained(m), (i_m - 2 * m + 2) / (2 * m**2), None))
    return rows


def _bilocal_references():
    import bellcore as bc

    s2 = math.sqrt(2)
    return [
        (f"Werner v={v}, BRGP ({variant})", bc.bilocal_werner(v, variant), nbl)
        for v in (0.6, 0.9)
        for variant, nbl in (("binary", max(0.0, (s2 * v - 1) / 4)), ("bsm", max(0.0, (v * v - 0.5) / 4)))
    ]


def demo_cmd(
    as_json: bool = typer.Option(False, "--json", help="Machine-readable rows on stdout."),
    tol: float = typer.Option(1e-4, "--tol", help="Gap at which the NBL branch-and-bound stops."),
) -> None:
    """Certify reference behaviours against their closed forms (SCIENCE.md).

    NL and visibility of the PR box, Tsirelson point, isotropic PR, Werner/CHSH, chained and embedded
    behaviours; NBL intervals of the entanglement-swapping Werner family (binary and BSM variants).
    """
    import json

    import certify
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
                "certified": r.certificate_checked and r.lower - 1e-9 <= nbl_exact <= r.upper + 1e-9,
            }
        )
    ok = all(r["certified"] for r in rows + nbl_rows) and all(
        (r["nl"] >= r["nl_expected"] - 1e-9) if r["nl_bound_only"] else abs(r["nl"] - r["nl_expected"]) < 1e-8 for r in rows
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

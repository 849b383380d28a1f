"""`mlcap compare --dry-run`: what a comparison would do with each (variant, seed), nothing trained.

A comparison of the seed tables runs for an hour or more on a CPU; before starting one (or
resuming one after a change) a researcher wants to know which runs are reused, which resume and
which train again, and why. The answer comes from the same provenance check as the real run
(``runner.expected_provenance``), so a run planned "reuse" is reused.
"""

from __future__ import annotations

from mlcap.compare import provenance as prov
from mlcap.compare.runner import Setup, expected_provenance
from mlcap.compare.variants import Variant


def plan_run(variant: Variant, seed: int, setup: Setup, retrained: set[str]) -> str:
    """``reuse``, ``resume``, ``train`` or ``train again (FIELDS changed)`` for one run;
    ``retrained`` names the variants of this seed already planned to train (their dependants follow)."""
    run = setup.run_dir(variant.slug, seed)
    following = [ref for ref in variant.sources if ref in retrained]
    if following:
        return f"train ({', '.join(following)} trains first)"
    expected = expected_provenance(variant, seed, setup)
    if prov.matches(run, expected):
        return "reuse"
    if not run.exists():
        return "train"
    differs = prov.differences(run, expected)
    return "resume" if differs == ["incomplete"] else f"train again ({', '.join(differs)} changed)"


def plan(setup: Setup, variants: list[Variant], seeds: list[int]) -> list[dict]:
    """One entry per (seed, variant), in the order the comparison runs them."""
    entries = []
    for seed in seeds:
        retrained: set[str] = set()
        for variant in variants:
            action = plan_run(variant, seed, setup, retrained)
            if action != "reuse":
                retrained.add(variant.name)
            entries.append({"variant": variant.name, "seed": seed, "run": str(setup.run_dir(variant.slug, seed)),
                            "plan": action})
    return entries


def markdown(entries: list[dict]) -> str:
    lines = ["| variant | seed | plan | run |", "| --- | --- | --- | --- |"]
    lines += [f"| {e['variant']} | {e['seed']} | {e['plan']} | {e['run']} |" for e in entries]
    counts = {}
    for e in entries:
        key = e["plan"].split(" (")[0]
        counts[key] = counts.get(key, 0) + 1
    summary = ", ".join(f"{n} {key}" for key, n in counts.items())
    return "\n".join(lines) + f"\n\n{len(entries)} runs: {summary}\n"

"""The seeds of each benchmark side by side: mean and range of every score, from the result
files the benches wrote (``bench/results/*.json``), so README numbers come from files, not by hand.

    python bench/summarise.py   # writes bench/results/summary.md

Families: emoji preset (``emoji_preset[_seedN][_20min].json``, a table per budget), emoji small
(``emoji_small[_seedN].json``), Fashion-MNIST models (``variants_*.json``, a run's ``_s1`` ... suffix
names its seed) and translation (``translate_{pix2pix,cyclegan}[_seedN].json``).
Under each emoji table whose files pair the same two runs per seed, a line counts the seeds
on which the first run beats the second, per score: the counts behind README claims such as
"wins on two seeds of six". A subfolder (``results/xeon/``) holds emoji benches run on another
machine: its tables carry the folder's name and the CPU its files name, and never mix with
the main folder's (wall-clock benches compare only within one machine).
"""
from __future__ import annotations

import json
import re
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def spread(values: list[float], digits: int = 3) -> str:
    """'mean (min-max)' over seeds, or the one value."""
    values = [v for v in values if isinstance(v, (int, float))]
    if not values:
        return "-"
    mean = sum(values) / len(values)
    if len(values) == 1:
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ({min(values):.{digits}f}-{max(values):.{digits}f})"


def table(title: str, rows: dict[str, list[dict]], columns: list[tuple[str, callable, int]]) -> list[str]:
    """One markdown table: a row per run name, a column per score (``pick(run_entry)``), each
    cell the mean and range over that run's seeds."""
    lines = [f"### {title}", "", "| run | seeds | " + " | ".join(c[0] for c in columns) + " |",
             "|---|---|" + "---|" * len(columns)]
    for name, entries in rows.items():
        cells = [spread([_get(pick, e) for e in entries], digits) for _, pick, digits in columns]
        lines.append(f"| {name} | {len(entries)} | " + " | ".join(cells) + " |")
    return lines + [""]


def _get(pick, entry):
    try:
        return pick(entry)
    except (KeyError, TypeError):
        return None


def _seed_files(pattern: str, folder: Path = RESULTS) -> list[dict]:
    """The result files of one bench family: ``<stem>[_seedN][_Mmin].json``."""
    return [json.loads(p.read_text()) for p in sorted(folder.glob(pattern))
            if re.fullmatch(pattern.replace("*", r"(_seed\d+)?(_[\d.]+min)?"), p.name)]


SCORES = [("FID", lambda r: r["scores"]["fid"], 2), ("KID x1e3", lambda r: r["scores"]["kid_mean"] * 1e3, 1),
          ("precision", lambda r: r["scores"]["precision"], 3), ("recall", lambda r: r["scores"]["recall"], 3),
          ("coverage", lambda r: r["scores"]["coverage"], 3)]
SECOND = [("2nd space FID", lambda r: r["scores_rotnet"]["fid"], 2),
          ("2nd KID x1e3", lambda r: r["scores_rotnet"]["kid_mean"] * 1e3, 1),
          ("2nd recall", lambda r: r["scores_rotnet"]["recall"], 3), ("2nd coverage", lambda r: r["scores_rotnet"]["coverage"], 3)]


# Which way is better, for the scores that a seed-by-seed count makes sense of.
LOWER_IS_BETTER = {"FID": True, "KID x1e3": True, "precision": False, "recall": False, "coverage": False,
                   "2nd space FID": True, "2nd KID x1e3": True, "2nd recall": False, "2nd coverage": False}


def seed_wins(files: list[dict], columns: list[tuple[str, callable, int]]) -> list[str]:
    """For a bench whose every file pairs the same two runs on one seed: on how many seeds the
    first beats the second, per score (a tie is no win). Means hide a split; this line does not."""
    names = list(files[0]["runs"]) if files else []
    if len(names) != 2 or any(list(f["runs"]) != names for f in files):
        return []
    a, b = names
    cells = []
    for title, pick, _ in columns:
        if title not in LOWER_IS_BETTER:
            continue
        pairs = [(_get(pick, f["runs"][a]), _get(pick, f["runs"][b])) for f in files]
        pairs = [(x, y) for x, y in pairs if isinstance(x, (int, float)) and isinstance(y, (int, float))]
        if pairs:
            wins = sum((x < y) if LOWER_IS_BETTER[title] else (x > y) for x, y in pairs)
            cells.append(f"{title} {wins}/{len(pairs)}")
    return [f"Seed by seed, `{a}` beats `{b}` on: " + ", ".join(cells) + ".", ""] if cells else []


def emoji() -> list[str]:
    out = []
    for folder in [RESULTS, *sorted(d for d in RESULTS.iterdir() if d.is_dir())]:
        out += emoji_tables(folder)
    return out


def emoji_tables(folder: Path) -> list[str]:
    out = []
    for experiment, extra in (("preset", [("class accuracy", lambda r: r["scores"]["class_accuracy"], 3),
                                          ("mix: layout from A", lambda r: r["style_mixing"]["layout_follows_a"], 2),
                                          ("mix: colour from B", lambda r: r["style_mixing"]["colour_follows_b"], 2)]),
                              ("small", [("ADA p", lambda r: r["final_ada_p"], 3),
                                         ("D acc. train reals", lambda r: r["d_acc_train_reals"], 3),
                                         ("D acc. held-out reals", lambda r: r["d_acc_heldout_reals"], 3),
                                         ("D logit gap (std)", lambda r: r["d_logit_gap_in_std"], 3)])):
        every = _seed_files(f"emoji_{experiment}*.json", folder)
        for minutes in sorted({f.get("minutes") for f in every}):
            files = [f for f in every if f.get("minutes") == minutes]
            rows: dict[str, list[dict]] = {}
            for f in files:
                for name, entry in f["runs"].items():
                    rows.setdefault(name, []).append(entry)
            seeds = ", ".join(str(f.get("seed", 0)) for f in files)
            columns = [("steps", lambda r: r["steps"], 0), *SCORES, *SECOND, *extra]
            where = f"{folder.name}/, {files[0].get('machine', '')}: " if folder != RESULTS else ""
            out += table(f"{where}Emoji, experiment '{experiment}' ({minutes:g} minutes each; seeds {seeds})", rows, columns)
            out += seed_wins(files, columns)
    return out


def fashion() -> list[str]:
    rows: dict[str, list[dict]] = {}
    for path in sorted(RESULTS.glob("variants_*.json")):
        f = json.loads(path.read_text())
        for name, entry in f["runs"].items():
            if "scores_rotnet" in entry:  # the runs of the issue-18 comparison (scored in both spaces)
                rows.setdefault(re.sub(r"_s\d+$", "", name), []).append(entry)
    if not rows:
        return []
    return table("Fashion-MNIST, 10 minutes each", rows,
                 [("steps", lambda r: r["steps"], 0), *SCORES,
                  ("class coverage", lambda r: r["scores"]["class_coverage"], 2),
                  ("class accuracy", lambda r: r["scores"]["class_accuracy"], 3), *SECOND])


def translation() -> list[str]:
    out = []
    p2p = {"pix2pix": _seed_files("translate_pix2pix*.json")}
    if p2p["pix2pix"]:
        out += table("pix2pix, edges -> Fashion-MNIST (1,000 test outlines)", p2p, [
            ("steps", lambda r: r["steps"], 0), ("class agreement", lambda r: r["class_agreement"], 3),
            ("same classifier, real images", lambda r: r["class_agreement_real"], 3),
            ("PSNR dB", lambda r: r["psnr_db"], 2), ("SSIM", lambda r: r["ssim"], 3),
            ("FID (classifier space)", lambda r: r["fid_classifier_space"], 2)])
    cyc = {"cyclegan": _seed_files("translate_cyclegan*.json")}
    if cyc["cyclegan"]:
        cols = [("steps", lambda r: r["steps"], 0)]
        for tag in ("a_to_b", "b_to_a"):
            cols += [(f"{tag}: target class", lambda r, t=tag: r[t]["target_class_share"], 3),
                     (f"{tag}: cycle back to source class", lambda r, t=tag: r[t]["cycle_returns_to_source_class"], 3),
                     (f"{tag}: cycle PSNR dB", lambda r, t=tag: r[t]["cycle_psnr_db"], 2)]
        out += table("CycleGAN, sneaker <-> ankle boot (1,000 test images each way)", cyc, cols)
    return out


def main() -> None:
    lines = ["# Benchmarks over seeds: mean (min-max)", "",
             "Made by `python bench/summarise.py` from the result files beside it. '2nd space': the same "
             "scores in a CNN trained to predict rotation on the same set (`rotnet/...`), to confirm "
             "what the classifier's space (`classifier/...`) says.", "",
             *emoji(), *fashion(), *translation()]
    (RESULTS / "summary.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()

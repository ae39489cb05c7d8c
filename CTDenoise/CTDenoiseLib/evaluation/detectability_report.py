"""Outputs of ``ctdenoise detectability``: the CSV of every row, a Markdown table and the AUC-vs-dose figure."""

from __future__ import annotations

import csv
from pathlib import Path

COLUMNS = ("source", "dose", "method", "insert", "contrast_hu", "diameter_px", "roi_px", "channel_width_px",
           "split", "n_present", "n_absent", "auc", "auc_lo", "auc_hi", "d_prime", "d_prime_lo", "d_prime_hi",
           "npw_d_prime", "npw_d_prime_lo", "npw_d_prime_hi", "npw_auc", "noise_std_hu")


def write_csv(rows: list[dict], path: Path) -> None:
    """Every (source, dose, method, insert) row, floats to 4 decimals."""
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: (f"{v:.4f}" if isinstance(v, float) else v) for k, v in row.items() if k in COLUMNS})


def markdown(rows: list[dict]) -> str:
    """One table per image source: a row per (dose, method), AUC and d' [95 % CI] per insert, NPW d'."""
    lines = []
    inserts = list(dict.fromkeys(row["insert"] for row in rows))
    for source in dict.fromkeys(row["source"] for row in rows):
        subset = [row for row in rows if row["source"] == source]
        n = subset[0]["n_present"]
        lines += [f"### {source} ({n} present + {subset[0]['n_absent']} absent realisations per dose, "
                  f"{subset[0]['split']})", "",
                  "| dose | method | " + " | ".join(f"{name}: CHO AUC / d' [95 % CI] / NPW d'" for name in inserts)
                  + " | noise std |", "|---|---|" + "---|" * (len(inserts) + 1)]
        for dose in dict.fromkeys(row["dose"] for row in subset):
            for method in dict.fromkeys(row["method"] for row in subset if row["dose"] == dose):
                cells = []
                for name in inserts:
                    r = next(x for x in subset if x["dose"] == dose and x["method"] == method and x["insert"] == name)
                    cells.append(f"{r['auc']:.2f} / {r['d_prime']:.2f} [{r['d_prime_lo']:.2f}, {r['d_prime_hi']:.2f}]"
                                 f" / {r['npw_d_prime']:.2f}")
                noise = next(x for x in subset if x["dose"] == dose and x["method"] == method)["noise_std_hu"]
                lines.append(f"| {dose * 100:g} % | {method} | " + " | ".join(cells) + f" | {noise:.1f} HU |")
        lines.append("")
    return "\n".join(lines)


PAIRED_COLUMNS = ("source", "dose", "method", "against", "insert", "d_prime_difference", "difference_lo",
                  "difference_hi")


def write_paired_csv(paired: list[dict], path: Path) -> None:
    """The paired differences of CHO d' (``detectability.paired_rows``), floats to 4 decimals."""
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=PAIRED_COLUMNS)
        writer.writeheader()
        for row in paired:
            writer.writerow({k: (f"{v:.4f}" if isinstance(v, float) else v) for k, v in row.items()})


def paired_markdown(paired: list[dict]) -> str:
    """One table: a row per (source, dose, method), per insert the CHO d' difference [95 % paired interval]."""
    if not paired:
        return ""
    inserts = list(dict.fromkeys(row["insert"] for row in paired))
    against = paired[0]["against"]
    lines = [f"### CHO d' minus that of {against}, same realisations (95 % paired bootstrap interval)", "",
             "| source | dose | method | " + " | ".join(inserts) + " |", "|---|---|---|" + "---|" * len(inserts)]
    for key in dict.fromkeys((row["source"], row["dose"], row["method"]) for row in paired):
        cells = []
        for name in inserts:
            r = next(x for x in paired if (x["source"], x["dose"], x["method"]) == key and x["insert"] == name)
            cells.append(f"{r['d_prime_difference']:+.2f} [{r['difference_lo']:+.2f}, {r['difference_hi']:+.2f}]")
        lines.append(f"| {key[0]} | {key[1] * 100:g} % | {key[2]} | " + " | ".join(cells) + " |")
    return "\n".join(lines + [""])


def figure(rows: list[dict], path: Path) -> None:
    """AUC (CHO) against dose, one panel per (source, insert), one line per method, 95 % CI as error bars."""
    from ..figures.png import new_figure, save_png

    sources = list(dict.fromkeys(row["source"] for row in rows))
    inserts = list(dict.fromkeys(row["insert"] for row in rows))
    methods = list(dict.fromkeys(row["method"] for row in rows))
    fig = new_figure(3.2 * len(inserts), 3.0 * len(sources), layout="tight")
    axes = fig.subplots(len(sources), len(inserts), squeeze=False, sharey=True)
    for i, source in enumerate(sources):
        for j, name in enumerate(inserts):
            ax = axes[i][j]
            for k, method in enumerate(methods):
                sel = sorted((r for r in rows if r["source"] == source and r["insert"] == name
                              and r["method"] == method), key=lambda r: r["dose"])
                doses = [100 * r["dose"] * (1 + 0.02 * (k - len(methods) / 2)) for r in sel]  # dodge
                ax.errorbar(doses, [r["auc"] for r in sel],
                            yerr=[[r["auc"] - r["auc_lo"] for r in sel], [r["auc_hi"] - r["auc"] for r in sel]],
                            marker="o", ms=3, capsize=2, lw=1, label=method)
            ax.axhline(0.5, color="grey", lw=0.5, ls=":")
            ax.set_xscale("log")
            ax.set_title(f"{source}: {name}", fontsize=9)
            ax.set_xlabel("dose (% of normal)")
            if j == 0:
                ax.set_ylabel("CHO AUC")
    axes[0][-1].legend(fontsize=7, loc="lower right")
    save_png(fig, path, dpi=110)

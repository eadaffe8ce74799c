"""Showing the throughput results: the table, the targets, the JSON file and the plot.

Files are written atomically (a temporary file in the same folder, then os.replace), so a reader
never sees half a file and an interrupted run leaves the previous one in place.
"""
import json
import os
import tempfile

# (batch size, the backend engine-numpy is compared with, lowest median ratio) for the deep model.
# numpy-plain is NumPy's own limit for this arithmetic; the GEMM ceiling is reported, not a target.
TARGETS = ((32, "torch-cpu", 2.5), (256, "torch-cpu", 1.2), (2048, "torch-cpu", 1.1), (2048, "numpy-plain", 0.95),
           (32, "jax-cpu", 1.0), (256, "jax-cpu", 1.0), (2048, "jax-cpu", 1.0),
           (32, "dezero", 2.5), (256, "dezero", 2.5), (2048, "dezero", 2.5))
TARGET_MODEL = "deep"
PEER_COLUMNS = ("numpy-plain", "jax-cpu", "dezero")
PLOT_STYLE = {"engine-numpy": ("tab:blue", "-"), "torch-cpu": ("tab:orange", "--"),
              "engine-cupy": ("tab:green", "-"), "torch-cuda": ("tab:red", "--"),
              "numpy-plain": ("tab:gray", ":"), "jax-cpu": ("tab:purple", "--"), "dezero": ("tab:brown", "-.")}


# --- numbers as text ---------------------------------------------------------------------------------
def _rate(value):
    return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"


def _short(value):
    """A positive number in 3 or 4 significant characters, without an exponent."""
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    if value >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def _memory_cell(memory):
    if memory is None:
        return "-"
    if "peak_rss_mib" in memory:
        return f"{memory['peak_rss_mib']:.0f}"
    return "err" if "error" in memory else "-"


# --- the table -----------------------------------------------------------------------------------------
HEADER = ("model", "batch", "backend", "train samples/s [min-max]", "ms/step", "vs torch",
          "% ceiling", "fwd samples/s", "peak RSS MiB")


def table_rows(results):
    rows = []
    for row in results["measurements"]:
        train = row["train"]["samples_per_second"]
        ratio = row.get("ratio_to_torch")
        rows.append((
            row["model"], str(row["batch_size"]), row["backend"],
            f"{_rate(train['median'])} [{_rate(train['min'])}-{_rate(train['max'])}]",
            _short(row["train"]["ms_per_step"]["median"]),
            f"{ratio['train']['median']:.2f}x" if ratio else "",
            f"{100 * row['fraction_of_ceiling']:.1f}%" if row.get("fraction_of_ceiling") is not None else "-",
            _rate(row["forward"]["samples_per_second"]["median"]),
            _memory_cell(row.get("memory")),
        ))
    return rows


def format_table(header, rows, left=(0, 2)):
    """Columns padded to their widest cell; text (the columns numbered in ``left``) left-aligned,
    numbers right-aligned."""
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows)]
    left = set(left)

    def line(cells):
        return "  ".join(cell.ljust(width) if index in left else cell.rjust(width)
                         for index, (cell, width) in enumerate(zip(cells, widths))).rstrip()

    return "\n".join([line(header), line(["-" * width for width in widths])] + [line(row) for row in rows])


def format_results(results):
    """The whole stdout report: skipped backends, ceilings, the table, GPU speedups, targets."""
    lines = []
    for backend, reason in results["skipped"].items():
        lines.append(f"skipped {backend}: {reason}")
    for device, ceiling in results["ceiling"].items():
        if ceiling is None:
            continue
        rate = ceiling["flops_per_second"]
        lines.append(f"{device} ceiling: {ceiling['library']} float32 GEMM {ceiling['matrix_size']}^3: "
                     f"{rate['median'] / 1e9:.1f} GFLOP/s (median of {len(rate['per_repeat'])}, "
                     f"{rate['min'] / 1e9:.1f}-{rate['max'] / 1e9:.1f}; before the models "
                     f"{ceiling['median_at_start'] / 1e9:.1f}, after {ceiling['median_at_end'] / 1e9:.1f})")
    for library, reference in results.get("gemm_reference", {}).items():
        lines.append(f"  for reference, {library} GEMM of the same size: "
                     f"{reference['flops_per_second']['median'] / 1e9:.1f} GFLOP/s")
    lines += ["", format_table(HEADER, table_rows(results))]
    lines.append("train = one step of forward, MSE loss, backward, Adam; vs torch = median over repeats of "
                 "(engine samples/s) / (torch samples/s), paired repeat by repeat; % ceiling = train samples/s / "
                 "(GEMM FLOP/s / training FLOPs per sample)")
    peers = peer_rows(results)
    if peers:
        lines += ["", format_table(("model", "batch", *(f"engine / {peer}" for peer in PEER_COLUMNS)), peers),
                  "engine / peer = median over repeats of (engine-numpy samples/s) / (peer samples/s), paired"]
    if results["gpu_speedup"]:
        lines += ["", format_table(("model", "batch", "engine-cupy / engine-numpy, train", "forward"), [
            (entry["model"], str(entry["batch_size"]), f"{entry['train']['median']:.2f}x",
             f"{entry['forward']['median']:.2f}x") for entry in results["gpu_speedup"]])]
    lines += ["", format_targets(results["targets"])]
    for warning in results["warnings"]:
        lines.append(f"warning: {warning}")
    for error in results["errors"]:
        lines.append(f"ERROR {error}")
    return "\n".join(lines)


# --- the targets -----------------------------------------------------------------------------------------
def evaluate_targets(results):
    """PASS / MISS / "not measured" for each target; a miss is reported, never an error."""
    rows = {(row["model"], row["batch_size"], row["backend"]): row for row in results["measurements"]}
    outcomes = []
    for batch_size, against, threshold in TARGETS:
        row = rows.get((TARGET_MODEL, batch_size, "engine-numpy"))
        value = None
        if row is not None:
            ratio = row.get("ratio_to_torch") if against == "torch-cpu" else row.get("ratio_to_peers", {}).get(against)
            if ratio and ratio.get("against") == against:
                value = ratio["train"]["median"]
        description = f"{TARGET_MODEL} batch {batch_size}: engine-numpy / {against} training throughput >= {threshold}x"
        status = "not measured" if value is None else ("PASS" if value >= threshold else "MISS")
        outcomes.append({"model": TARGET_MODEL, "batch_size": batch_size, "against": against, "threshold": threshold,
                         "value": value, "status": status, "description": description})
    return outcomes


def format_targets(targets):
    lines = ["targets (a MISS is reported, not an error):"]
    for target in targets:
        measured = "not measured" if target["value"] is None else f"{target['value']:.2f}x"
        lines.append(f"  {target['status']:<12} {target['description']}: {measured}")
    return "\n".join(lines)


def peer_rows(results):
    """(model, batch, engine / each peer) for every engine-numpy row that has a peer ratio."""
    rows = []
    for row in results["measurements"]:
        peers = row.get("ratio_to_peers") or {}
        if row["backend"] != "engine-numpy" or not peers:
            continue
        rows.append((row["model"], str(row["batch_size"]),
                     *(f"{peers[peer]['train']['median']:.2f}x" if peer in peers else "-" for peer in PEER_COLUMNS)))
    return rows


# --- files -------------------------------------------------------------------------------------------------
def _atomic_target(path):
    """A temporary file next to ``path`` (same file system, so os.replace is atomic)."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=folder)
    os.close(descriptor)
    return temporary


def _replace(temporary, path):
    # mkstemp makes the file readable by its owner only; give it the usual mode of a new file.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(temporary, 0o666 & ~umask)
    os.replace(temporary, path)


def write_json(results, path):
    temporary = _atomic_target(path)
    try:
        with open(temporary, "w", encoding="utf-8") as file:
            json.dump(results, file, indent=1, allow_nan=False)
            file.write("\n")
            file.flush()
            os.fsync(file.fileno())
        _replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise


def write_plot(results, path):
    """Training samples/s against batch size, one panel per model, a line per backend (min-max as
    error bars), and each device's ceiling as a dotted line; log axes."""
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib import pyplot

    models = results["config"]["models"]
    columns = min(len(models), 2)
    rows_of_panels = -(-len(models) // columns)
    figure, axes = pyplot.subplots(rows_of_panels, columns, figsize=(6.4 * columns, 4.6 * rows_of_panels),
                                   squeeze=False)
    backends = [backend for backend in results["config"]["backends"] if backend not in results["skipped"]]
    for axis, model in zip(axes.flat, models):
        for backend in backends:
            points = sorted(((row["batch_size"], row["train"]["samples_per_second"]) for row in results["measurements"]
                             if row["model"] == model and row["backend"] == backend), key=lambda point: point[0])
            if not points:
                continue
            batch_sizes = [batch_size for batch_size, _ in points]
            medians = [rate["median"] for _, rate in points]
            spread = [[rate["median"] - rate["min"] for _, rate in points],
                      [rate["max"] - rate["median"] for _, rate in points]]
            color, style = PLOT_STYLE.get(backend, (None, "-"))
            axis.errorbar(batch_sizes, medians, yerr=spread, label=backend, color=color, linestyle=style,
                          marker="o", markersize=4, capsize=3)
        for device, color in (("cpu", "tab:blue"), ("gpu", "tab:green")):
            ceiling = results["ceiling"].get(device)
            if ceiling is not None and any(row["device"] == device for row in results["measurements"]):
                flops = results["models"][model]["train_flops_per_sample"]
                axis.axhline(ceiling["flops_per_second"]["median"] / flops, color=color, linestyle=":",
                             linewidth=1, label=f"{device.upper()} ceiling ({ceiling['library']} GEMM)")
        layers = results["models"][model]["linear_layers"]
        axis.set_title(f"{model}: {len(layers)} Linear layers, "
                       f"{results['models'][model]['train_flops_per_sample'] / 1e6:.2f} MFLOP/sample (train)",
                       fontsize=10)
        axis.set_xscale("log", base=2)
        batch_sizes = results["config"]["batch_sizes"]
        axis.set_xticks(batch_sizes, [str(size) for size in batch_sizes])
        axis.minorticks_off()
        axis.set_yscale("log")
        axis.set_xlabel("batch size")
        axis.set_ylabel("training samples / s")
        axis.grid(True, which="both", alpha=0.3)
        axis.legend(fontsize=8)
    for axis in list(axes.flat)[len(models):]:
        axis.set_visible(False)
    machine = results["machine"]
    figure.suptitle(f"Training throughput, float32, Adam, MSE\n{machine['cpu']['model']}, "
                    f"BLAS threads: {machine['blas_threads']}"
                    + (f", {machine['gpu']['name']}" if machine.get("gpu") else ""), fontsize=10)
    figure.tight_layout()
    save_figure(figure, path)


def save_figure(figure, path, dpi=110):
    """Write a matplotlib figure as a PNG atomically, then close it (also when writing fails)."""
    from matplotlib import pyplot

    temporary = _atomic_target(path)
    try:
        figure.savefig(temporary, format="png", dpi=dpi)
        _replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise
    finally:
        pyplot.close(figure)

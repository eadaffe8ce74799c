"""The command-line pieces the benchmark scripts share: a parser whose errors are one line, the
comma-separated list types, the timing options every benchmark takes, and the early check that an
output file can be written."""
import argparse
import os
import sys
import tempfile

from runfolder.arguments import number_type

from .workloads import ENGINE_AND_TORCH


class Parser(argparse.ArgumentParser):
    def error(self, message):
        """One line on stderr and exit status 2 (argparse would print the usage first)."""
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def names(choices, what):
    """A comma-separated list of distinct names, each one of ``choices``."""
    def parse(text):
        items = [name.strip() for name in text.split(",")]
        for name in items:
            if not name:
                raise argparse.ArgumentTypeError(f"empty {what} name in {text!r}")
            if name not in choices:
                raise argparse.ArgumentTypeError(f"unknown {what} {name!r}: choose from {','.join(choices)}")
        if len(set(items)) != len(items):
            raise argparse.ArgumentTypeError(f"a {what} is listed twice in {text!r}")
        return items
    return parse


def batch_sizes(text):
    """A comma-separated list of distinct positive integers."""
    sizes = []
    for item in text.split(","):
        try:
            size = int(item.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"batch size {item.strip()!r} in {text!r} is not an integer") from None
        if size <= 0:
            raise argparse.ArgumentTypeError(f"batch size {size} in {text!r} must be positive")
        sizes.append(size)
    if len(set(sizes)) != len(sizes):
        raise argparse.ArgumentTypeError(f"a batch size is listed twice in {text!r}")
    return sizes


def add_timing_options(parser, repeats_per, quick_help, plot_help, backends=ENGINE_AND_TORCH):
    """--batch-sizes, --backends (from ``backends``), --repeats, --warmup, --block-seconds, --quick, --json, --plot."""
    parser.add_argument("--batch-sizes", type=batch_sizes, help="comma-separated positive integers")
    parser.add_argument("--backends", type=names(backends, "backend"), default=list(backends),
                        help=f"comma-separated, from {','.join(backends)} (default: all; missing ones are skipped)")
    parser.add_argument("--repeats", type=number_type(int, at_least=1), help=f"timed blocks per {repeats_per}")
    parser.add_argument("--warmup", type=number_type(int, at_least=0), help="untimed steps before calibration")
    parser.add_argument("--block-seconds", type=number_type(float, above=0, at_most=60),
                        help="the shortest a timed block may last")
    parser.add_argument("--quick", action="store_true", help=quick_help)
    parser.add_argument("--json", metavar="PATH", help="write every measurement, the method and the machine here")
    parser.add_argument("--plot", metavar="PATH", help=plot_help)


def settings_from(args, full, quick, keys):
    """--quick's or the full defaults, overridden by each of ``keys`` given on the command line."""
    settings = dict(quick if args.quick else full)
    for key in keys:
        if getattr(args, key) is not None:
            settings[key] = getattr(args, key)
    return settings


def check_output_path(parser, option, path):
    """Fail before measuring, not after, when an output file cannot be written: make its folder
    and a temporary file in it (removed at once)."""
    if path is None:
        return
    if os.path.isdir(path):
        parser.error(f"{option} {path!r} is a directory; give a file name")
    folder = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(folder, exist_ok=True)
        descriptor, probe = tempfile.mkstemp(prefix=".write-test.", dir=folder)
        os.close(descriptor)
        os.remove(probe)
    except OSError as error:
        parser.error(f"{option} {path!r} cannot be written: {error.strerror or error}")


def log(message):
    """Progress and notes go to stderr, so that stdout holds the table alone."""
    print(message, file=sys.stderr, flush=True)

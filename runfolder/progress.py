"""The progress bar both command lines' training loops show: one bar over all the run's steps, on stderr
(stdout keeps the lines a script reads), with what the loop names beside it.

    bar = training_bar(epochs * batches_per_epoch)
    bar.update(1)                              # after each step
    bar.set_postfix(epoch=3, loss="0.03120")   # now and then: a string of the running numbers
    write_line(bar, "epoch 3: ...")            # a line to stdout, the bar redrawn below it
    bar.close()
"""
import sys

# Steps between two updates of the numbers beside the bar (reading a loss can cost a device sync).
POSTFIX_EVERY = 20


def training_bar(steps):
    """A tqdm bar counting ``steps`` batches, written to the sys.stderr of the moment it is made."""
    from tqdm import tqdm
    return tqdm(total=steps, unit="batch", dynamic_ncols=True, leave=True, file=sys.stderr)


def write_line(bar, line):
    """Print ``line`` to stdout; with a bar (not None), clear it first and redraw it after, so the two
    do not share a terminal line."""
    if bar is None:
        print(line)
    else:
        bar.write(line, file=sys.stdout)

"""What every training loop here records, and how it stops when the loss stops being finite.

``Record`` is the base of a run's measurements (autoencoders' History, the GANs' GANHistory):
a dataclass of lists that checkpoints save as a dict of lists.
"""


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite."""

    def __init__(self, epoch, iteration, value):
        super().__init__(f"loss became {value} at epoch {epoch}, iteration {iteration}; "
                         "lower the learning rate (--lr) and train again")
        self.epoch, self.iteration, self.value = epoch, iteration, value


class Record:
    """A dataclass of lists (what a run measured) that saves as a dict of lists, loads back, and can
    forget an unfinished epoch; autoencoders' History and the GANs' GANHistory are two."""

    def to_dict(self):
        return {name: list(getattr(self, name)) for name in self.__dataclass_fields__}

    @classmethod
    def from_dict(cls, data):
        return cls(**{name: list(data.get(name, [])) for name in cls.__dataclass_fields__})

    def lengths(self):
        return {name: len(getattr(self, name)) for name in self.__dataclass_fields__}

    def truncate(self, lengths):
        """Back to the lengths ``lengths()`` returned (an unfinished epoch forgotten)."""
        for name, length in lengths.items():
            del getattr(self, name)[length:]

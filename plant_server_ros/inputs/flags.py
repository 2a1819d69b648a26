"""
Argparse ``type=`` checkers: a flag out of its range is refused by argparse itself.

Each returns a converter that raises ``argparse.ArgumentTypeError`` with the
range, so argparse prints one usage line and exits 2 before anything starts.
"""

import argparse
import math
from pathlib import Path


def integer(low, high):
    """Return a converter of an integer in ``[low, high]``."""
    def convert(text):
        try:
            value = int(text, 0) if text.strip().lower().startswith(('0x', '0o', '0b')) \
                else int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f'must be an integer in [{low}, {high}], '
                                             f'got {text!r}') from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f'must be in [{low}, {high}], got {value}')
        return value
    convert.__name__ = 'integer'
    return convert


def number(low, high):
    """Return a converter of a finite number in ``[low, high]``."""
    def convert(text):
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f'must be a number in [{low:g}, {high:g}], '
                                             f'got {text!r}') from None
        if not (math.isfinite(value) and low <= value <= high):
            raise argparse.ArgumentTypeError(f'must be in [{low:g}, {high:g}], got {text}')
        return value
    convert.__name__ = 'number'
    return convert


port = integer(0, 65535)


def networks(text):
    """Return the CIDR list of ``--allow`` as strings (each checked)."""
    from .allowlist import parse
    try:
        return [str(n) for n in parse(text)]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc).replace('allow: ', '')) from None


def directory(text):
    """Check that a --record path names a folder, or where one can be made (not a file)."""
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f'{text} is a file, not a directory')
    for parent in path.absolute().parents:
        if parent.exists():
            if not parent.is_dir():
                raise argparse.ArgumentTypeError(f'{text}: {parent} is a file, not a directory')
            break
    return text


class ArgumentParser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line (``prog: error: ...``), exit 2."""

    def error(self, message):
        self.exit(2, f'{self.prog}: error: {message} (see --help)\n')

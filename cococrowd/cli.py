"""`cococrowd` command line: parses options and calls the library; no logic here."""
from __future__ import annotations

import sys

import click

from . import __version__
from .cocofile import CocoFormatError


class _Group(click.Group):
    """Turn the library's input errors into one clear line and exit code 2."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except (CocoFormatError, FileNotFoundError, FileExistsError, ValueError) as err:
            click.echo(f"error: {err}", err=True)
            sys.exit(2)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="cococrowd")
def main():
    """Curate COCO-crowd: the crowded regions of COCO person-keypoint images.

    Typical flow: `cococrowd synth` (or a real COCO download) -> `cococrowd build`
    -> `cococrowd split` -> `cococrowd stats`.
    """


# Commands register below; each lives in the module that names it.

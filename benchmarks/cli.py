"""`bench` command line: parses options and calls the library; no logic here."""
from __future__ import annotations

import click


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
def main():
    """Train and score crowd pose methods on COCO-crowd files.

    `bench score` scores any COCO keypoint results file; `bench report` puts runs side by side;
    `bench train` / `bench run` train and run the paper's sequential model.
    """


# Commands register below.

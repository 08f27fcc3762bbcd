"""A curated synthetic crowd world for tests: `cococrowd synth` then `cococrowd build`."""
from pathlib import Path

from click.testing import CliRunner


def build_synthetic_crowd(root: Path, images: int, seed: int, split: str = "val2014") -> Path:
    """The COCO-crowd file of a synthetic world of ``images`` source images (crops beside it)."""
    from cococrowd.cli import main as cococrowd
    for args in (["synth", "--out", str(root / "world"), "--split", split, "--images", str(images), "--seed", str(seed)],
                 ["build", "--coco-root", str(root / "world"), "--split", split, "--out", str(root / "crowd")]):
        result = CliRunner().invoke(cococrowd, args + ["--quiet"])
        assert result.exit_code == 0, result.output
    return root / "crowd" / "annotations" / f"crowd_{split}.json"

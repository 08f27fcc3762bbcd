"""A curated synthetic crowd world for tests: `cococrowd synth` then `cococrowd build`."""
import json
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


def crowd_and_results(root: Path, images: int, seed: int) -> tuple[Path, Path]:
    """A synthetic COCO-crowd file and a results file holding each member's own keypoints."""
    gt = build_synthetic_crowd(root, images=images, seed=seed)
    data = json.loads(gt.read_text())
    results = [{"image_id": a["image_id"], "category_id": a["category_id"], "keypoints": a["keypoints"],
                "score": 0.9} for a in data["annotations"] if not a["ignore"]]
    assert results
    res = root / "results.json"
    res.write_text(json.dumps(results))
    return gt, res

"""`cococrowd synth`: a synthetic COCO-format crowd world of stick people.

Python API (names are stable; other modules and scripts rely on them):

- ``make_world(n_images, seed=0, split="train2014") -> dict``: the COCO
  person-keypoint annotations of the first n_images images of world `seed`.
- ``write_world(out, split, n_images, seed=0, annotations_only=False,
  workers=None, progress=False) -> Path``: writes COCO's layout under `out`
  and returns the annotation file; ``synthesize`` takes the same arguments
  and also returns counts.
- ``generate_scenes(n_images, seed) -> Scenes`` and ``render(image_plan(scenes, i), seed)``
  for the arrays behind the file (pixel keypoints, colours) and single images.
"""
from .coco import file_name, make_world, to_coco
from .render import image_plan, render
from .skeleton import KEYPOINTS, PERSON_CATEGORY, SKELETON
from .world import Scenes, generate_scenes
from .writer import SynthResult, annotation_path, synthesize, write_world

__all__ = ["KEYPOINTS", "PERSON_CATEGORY", "SKELETON", "Scenes", "SynthResult", "annotation_path",
           "file_name", "generate_scenes", "image_plan", "make_world", "render", "synthesize",
           "to_coco", "write_world"]

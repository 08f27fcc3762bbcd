"""bench: train and score crowd pose methods on COCO-crowd files."""

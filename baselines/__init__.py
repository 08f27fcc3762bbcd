"""Baseline methods (Associative Embedding, Mask R-CNN keypoints) behind the bench method interface."""

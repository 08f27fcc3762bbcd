"""Associative Embedding (Newell et al. 2017) building blocks: network, targets, loss, grouping.

Written after princeton-vl/pose-ae-train; each module's docstring says where it follows that
code and where it departs. The bench glue (method registration, config, CLI) lives elsewhere.
"""
from .authors import AUTHORS_COCO, authors_state_dict, load_authors_checkpoint
from .grouping import GroupingParams, group, merge_flip, split_outputs
from .hourglass import StackedHourglass
from .loss import ae_loss
from .targets import collate, encode

__all__ = ["StackedHourglass", "encode", "collate", "ae_loss", "GroupingParams", "group", "merge_flip",
           "split_outputs", "load_authors_checkpoint", "authors_state_dict", "AUTHORS_COCO"]

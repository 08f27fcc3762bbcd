"""What every learned method shares: registry, configs, checkpoints, DDP, the training loop,
batched prediction and the oracle (see :mod:`.method` for what a method provides)."""

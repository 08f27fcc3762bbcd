"""The paper's sequential pose model (part localizer + ConvLSTM person decoder).

Modules: ``model`` (network), ``pretrained`` (ImageNet weights), ``loss`` (Eq. 1-3),
``decode`` (heatmaps -> people), ``config`` (TOML/JSON training configs),
``curriculum``, ``distributed``, ``checkpoint``, ``train`` and ``predict``.
"""

"""The training subcommands of ``ctdenoise`` (``train``, ``export-checkpoint``, ``train-benchmark``,
``lesion-classifier``), one module each.

The engine's command line registers them when this package is importable (``CTDenoiseLib.cli``); the engine
itself never imports training code.
"""

COMMANDS = ("train", "train_benchmark", "lesion_classifier", "export_checkpoint")

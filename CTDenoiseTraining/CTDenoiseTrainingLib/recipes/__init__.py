"""Training recipes beyond the plain pixel loss, chosen by the ``recipe`` configuration key.

``plain`` (the default) is the loop of ``train.py`` unchanged. ``teacher-student`` (Fu et al. 2021, TSC-Net,
without its Dynamic Enhancement Module) runs in that loop with another optimisation step; ``unpaired``
(CycleGAN-style, two generators and two 3D patch discriminators) has a loop of its own, since its data are two
unpaired domains; ``activation-map`` (Han & Baek 2022, ``activation_map_recipe.py``) runs in the plain loop with
a lesion classifier's activation maps weighting what the loss sees. Each recipe keeps its code in this package;
``train.py`` only dispatches.
"""

from __future__ import annotations

PLAIN, TEACHER_STUDENT, UNPAIRED, ACTIVATION_MAP = "plain", "teacher-student", "unpaired", "activation-map"

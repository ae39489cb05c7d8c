"""Training recipes, chosen by the ``recipe`` configuration key; every recipe's code lives in this package.

All of them run in the one training loop (``loop.py``), which asks of a recipe what ``protocol.Recipe`` lists.
``plain`` (the default) and the recipes that keep its data and network but take another optimisation step are
paired (``paired.py``): ``teacher-student`` (Fu et al. 2021, TSC-Net, without its Dynamic Enhancement Module,
``teacher_student.py``) and ``activation-map`` (Han & Baek 2022, ``activation_map.py``: a lesion classifier's
activation maps weight what the loss sees; the classifier is ``lesion_classifier.py``). ``unpaired``
(CycleGAN-style, two generators and two 3D patch discriminators, ``unpaired.py``) trains on two unpaired domains.
``dispatch.make_recipe`` builds the one a configuration names.
"""

from __future__ import annotations

PLAIN, TEACHER_STUDENT, UNPAIRED, ACTIVATION_MAP = "plain", "teacher-student", "unpaired", "activation-map"
NAMES = (PLAIN, TEACHER_STUDENT, UNPAIRED, ACTIVATION_MAP)

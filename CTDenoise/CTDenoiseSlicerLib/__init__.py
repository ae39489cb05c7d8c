"""Slicer-side helpers of the CTDenoise module.

Most files here are plain Python (no ``slicer``, ``qt`` or ``torch`` import) so that they are tested outside
Slicer: the process runner, progress parsing, precision/device rules, dependency planning and the radiomics
table. Only ``parameter_node``, ``logic``, ``widget``, ``slicer_nodes`` and ``self_test`` use Slicer's API.
Importing this package imports nothing.
"""

MINIMUM_SLICER_VERSION = "5.10"  # Python 3.12; every Slicer API the module calls exists there (a test checks it)

"""PNG figures: the shared matplotlib set-up and atomic save (``png``), slices of CT volumes side by side in
radiologists' windows (``slice_panels``), and the two figures built from them: a denoised file's preview
(``preview``) and a comparison of volumes on one grid (``comparison``)."""

"""Low-dose CT by simulation: projection-domain noise insertion, reconstruction kernels, the synthetic chest
phantom and the MITA low-contrast phantom. Kept light: ``kernels`` is imported by argument parsers (no torch)."""

"""The input's noise, measured without a reference (``estimate``): what a noise-conditioned network is told, what
the output header and the ``noise`` event report, and what the studies score against. An input of inference, so
it sits below inference and evaluation alike."""

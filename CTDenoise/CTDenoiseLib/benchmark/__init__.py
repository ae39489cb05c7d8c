"""The seed's Table 1 on this machine: its rows, one benchmark run, the rendered table and the CPU's peak."""

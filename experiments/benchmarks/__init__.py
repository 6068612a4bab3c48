"""Benchmark suites as library functions: each ``run(settings, ...)`` returns rows (dicts) that
``experiments.benchmark`` prints, writes as JSON and plots, and that a sweep can call directly.

`scaling` (time and memory against K and map size), `step` (one training step beside the
reference), `conv` (the convolution formulations), `grad_accuracy` (implicit gradients against a
converged backward solve); `problems` builds their inputs, `timing` times them.
"""

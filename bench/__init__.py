"""Benchmarks for territory: speed, scale and plan quality against baselines, in one run.

Run ``python -m bench [--quick] [--out DIR]`` from the repository root; see
``bench/RESULTS.md`` for the latest figures and ``bench/run.py`` for the cases.
"""

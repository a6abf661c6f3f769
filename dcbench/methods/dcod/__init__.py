"""DCOD, "Fetch and Forge" (Qi et al., NeurIPS 2024): condensation for detection by inverting a trained detector.

Fetch trains the teacher on the full set (:mod:`dcbench.harness.teacher`); Forge optimises the pixels of M
synthetic images against the frozen teacher with Foreground-Background Decoupling (:mod:`.fbd`) and Incremental
PatchExpand (:mod:`.ipe`). Defaults are the paper's numbers; where the paper is silent the default is the one
named in the method spec, and every value used is recorded in the manifest (:class:`.config.DCODConfig`).
"""

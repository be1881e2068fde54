"""The clinical head: whether two drugs interact, how severely and by what mechanism, learnt from
graded knowledge on a drug representation that exists for a drug nobody has seen interact.

Layers (chemprop-style): `config` (every hyper-parameter), `drugs` (the per-drug representation:
structure, proteins with actions, gene-space profile, ATC), `labels` (graded pairs from the
knowledge index), `splits` (random, one new drug, two new drugs), `network` (the torch model),
`baselines`, `train` and `evaluate` (plain scripts).
"""

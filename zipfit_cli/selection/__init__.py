"""What is kept once records are scored: ranking and top K, fractions, budgets, dedupe and
decontamination.

Layering (checked by `make lint`, import-linter): May import `scoring`, `files` and `base`.
"""

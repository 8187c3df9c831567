"""`vigil test`: rule unit tests written in YAML, run against the real store and evaluator on a simulated clock."""

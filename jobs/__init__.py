"""pressroom's control plane: spec, plan, run state, one run attempt, and the CLI."""

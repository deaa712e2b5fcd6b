"""pressroom's data plane: what runs inside Ray (storage, shard reads, render, engines, actors)."""

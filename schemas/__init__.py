"""pressroom's contracts: pydantic models, row columns and the exported JSON Schema."""

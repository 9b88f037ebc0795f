"""Per-service backends: plain state and rules, no HTTP."""

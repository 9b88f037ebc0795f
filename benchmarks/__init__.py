"""Benchmarks (`python -m benchmarks`) and the reliability suite (`python -m benchmarks.reliability`).

Both drive the real service layer through `localrun.LocalRuntime` on the simulator's virtual
clock and write their results to docs/benchmarks.md and docs/reliability.md.
"""

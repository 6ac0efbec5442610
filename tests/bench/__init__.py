"""`make bench`: load, latency, memory and browser-cost measurements of the whole stack.

`python -m tests.bench.run` starts the stack with embedded services, drives it with simulated
shoppers (python-socketio clients in separate processes), prints a table and writes
var/bench/latest.json and docs/benchmarks.md. `--smoke` is the seconds-long version
`tests/integration/test_bench_smoke.py` runs in `make test`.
"""

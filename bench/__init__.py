"""envstack's benchmarks: `python -m bench` (or `make bench`) measures, prints a table and
writes docs/benchmarks.md. Not a test: figures depend on the machine; nothing is asserted
but that each measured run succeeded."""

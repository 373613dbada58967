# The two commands a fresh machine needs (see README.md).
.PHONY: dev test destroy-dev bench

dev:  ## bring up the dev environment on this machine, end to end
	scripts/dev.sh

test:  ## run the whole test suite (what CI runs)
	scripts/test.sh

destroy-dev:  ## tear the dev stack down (database, role, .env.local)
	scripts/dev.sh --destroy

bench:  ## measure envstack (not a test): prints a table, writes docs/benchmarks.md
	scripts/bench.sh

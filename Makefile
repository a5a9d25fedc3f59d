# Everyday entry points. `make dev` and `make test` install Bun (pinned, via npm) and dependencies first.
.PHONY: setup dev test build bench
setup:
	@bash scripts/setup.sh

dev: setup
	bun run dev

test: setup
	bun run test

build: setup
	bun run build

bench: setup
	bun run bench

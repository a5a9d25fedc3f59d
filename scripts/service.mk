# Shared by controller/, agent/ and worker/Makefile: one service alone, from its folder.
# `make run` reads ./.env when present, else .env.example (development keys).
.PHONY: setup run test build

SERVICE := $(notdir $(CURDIR))
ENV_FILE = $(if $(wildcard .env),.env,.env.example)

setup:
	@bash ../scripts/setup.sh

run: setup
	bun --env-file=$(ENV_FILE) src/index.ts

test: setup
	cd .. && bun test --timeout 60000 $(SERVICE)/   # from the root: bunfig.toml preloads the test setup

build: setup
	bun ../scripts/build.ts $(SERVICE)

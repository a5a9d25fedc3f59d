# Everyday entry points. Each target that runs Bun installs it (pinned, via npm) and the dependencies first.
# Containers (compose.yaml, one project "dcm"): docker = agent + worker, docker-controller = postgres +
# controller, docker-all = both; the *-down targets stop and remove the containers, keeping the volumes.
.PHONY: setup dev test build bench compose-check docker docker-down docker-controller docker-controller-down docker-all docker-all-down

# The Compose v2 plugin when present, else the standalone docker-compose.
COMPOSE = $(shell docker compose version >/dev/null 2>&1 && echo 'docker compose' || echo docker-compose) -p dcm
NODE_VARS := DCM_AGENT_KEY DCM_WORKER_KEY
CONTROLLER_VARS := DCM_AGENT_KEY DCM_ADMIN_KEY DCM_POSTGRES_PASSWORD

# Stop before starting anything when a variable the profile needs is neither exported nor in ./.env.
need = @for v in $(1); do \
	  [ -n "$$(printenv $$v)" ] || grep -Eq "^$$v=.+" .env 2>/dev/null \
	  || { echo "make: $$v is not set: export it or put it in ./.env (see compose.yaml)" >&2; exit 1; }; \
	done

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

# Validates compose.yaml with Debian's docker-compose (installed with apt-get when missing; needs root).
compose-check:
	@command -v docker-compose >/dev/null 2>&1 || { \
	  [ "$$(id -u)" = 0 ] || { echo "make: compose-check needs docker-compose: install it, or run as root to let apt-get do it" >&2; exit 1; }; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get install -y -q docker-compose >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q docker-compose >/dev/null; }; }
	@for t in controller agent worker; do \
	  grep -Eq "^FROM .+ AS $$t$$" Dockerfile || { echo "make: Dockerfile has no target $$t" >&2; exit 1; }; done
	docker-compose -f compose.yaml config -q

docker:
	$(call need,$(NODE_VARS))
	$(COMPOSE) --profile node up -d --build

docker-down:
	$(COMPOSE) --profile node rm --stop --force agent worker

docker-controller:
	$(call need,$(CONTROLLER_VARS))
	$(COMPOSE) --profile controller up -d --build

docker-controller-down:
	$(COMPOSE) --profile controller rm --stop --force controller postgres

docker-all:
	$(call need,$(sort $(NODE_VARS) $(CONTROLLER_VARS)))
	$(COMPOSE) --profile node --profile controller up -d --build

docker-all-down:
	$(COMPOSE) --profile node --profile controller down

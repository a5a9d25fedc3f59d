# The agent on Render (render.yaml at the repository root). Render's blueprint reference names no build
# target (docker build builds a Dockerfile's last stage), and the root Dockerfile holds all three
# services, so each service has this short one: the same build as the root Dockerfile's agent target
# (compiled executable, non-root uid 10001, NODE_ENV=production), without curl (Render probes the health
# check path itself).
ARG BUN_VERSION=1.4.5

FROM oven/bun:${BUN_VERSION} AS build
WORKDIR /src
COPY package.json bun.lock bunfig.toml tsconfig.json ./
COPY shared/package.json shared/
COPY controller/package.json controller/
COPY agent/package.json agent/
COPY worker/package.json worker/
COPY cli/package.json cli/
RUN bun install --frozen-lockfile
COPY scripts/build.ts scripts/
COPY shared/src shared/src
COPY agent/src agent/src
RUN bun scripts/build.ts agent

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 dcm \
 && useradd --system --uid 10001 --gid dcm --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin dcm \
 && mkdir -p /app /data \
 && chown dcm:dcm /data
WORKDIR /app
COPY --from=build /src/dist/agent /usr/local/bin/dcm-agent
ENV NODE_ENV=production PORT=8081
USER dcm
EXPOSE 8081
# CONTROLLER_URL and WORKER_URL default to the private-network addresses render.yaml hands over as
# CONTROLLER_HOSTPORT and WORKER_HOSTPORT (host:port); set either in the dashboard to override it (on the
# free plan, to the service's public https URL: free web services cannot receive private traffic).
CMD ["/bin/sh", "-c", "export CONTROLLER_URL=\"${CONTROLLER_URL:-http://$CONTROLLER_HOSTPORT}\" WORKER_URL=\"${WORKER_URL:-http://$WORKER_HOSTPORT}\"; exec /usr/local/bin/dcm-agent"]

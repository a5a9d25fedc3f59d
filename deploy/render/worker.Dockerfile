# The worker on Render (render.yaml at the repository root). Render's blueprint reference names no build
# target (docker build builds a Dockerfile's last stage), and the root Dockerfile holds all three
# services, so each service has this short one: the same build as the root Dockerfile's worker target
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
COPY worker/src worker/src
RUN bun scripts/build.ts worker

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 dcm \
 && useradd --system --uid 10001 --gid dcm --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin dcm \
 && mkdir -p /app /data \
 && chown dcm:dcm /data
WORKDIR /app
COPY --from=build /src/dist/worker /usr/local/bin/dcm-worker
ENV NODE_ENV=production PORT=8082
USER dcm
EXPOSE 8082
# The worker needs nothing from Render's environment but PORT (set in render.yaml).
CMD ["/bin/sh", "-c", "exec /usr/local/bin/dcm-worker"]

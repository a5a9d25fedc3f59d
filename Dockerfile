# One file, three images: docker build --target controller|agent|worker -t dcm-<name> .
# Each is built as one compiled executable in the official Bun image, then run alone in a slim glibc
# image (compiled Bun executables need glibc) as a non-root user, with NODE_ENV=production.
ARG BUN_VERSION=1.4.5

# Dependencies first, so a source change does not reinstall them.
FROM oven/bun:${BUN_VERSION} AS deps
WORKDIR /src
COPY package.json bun.lock bunfig.toml tsconfig.json ./
COPY shared/package.json shared/
COPY controller/package.json controller/
COPY agent/package.json agent/
COPY worker/package.json worker/
# The CLI is a workspace too: the frozen install needs its manifest (its code is not in any image).
COPY cli/package.json cli/
RUN bun install --frozen-lockfile
COPY scripts/build.ts scripts/
COPY shared/src shared/src

FROM deps AS build-controller
COPY controller/src controller/src
RUN bun scripts/build.ts controller

FROM deps AS build-agent
COPY agent/src agent/src
RUN bun scripts/build.ts agent

FROM deps AS build-worker
COPY worker/src worker/src
RUN bun scripts/build.ts worker

# curl is there for the healthchecks: the executables have no client mode, and probes call /readyz.
FROM debian:bookworm-slim AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 dcm \
 && useradd --system --uid 10001 --gid dcm --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin dcm \
 && mkdir -p /app /data \
 && chown dcm:dcm /data
# /data is the only writable place (a named volume mounted there starts out owned by dcm).
# /app is the working folder: empty and read-only, so no stray .env or bunfig.toml is picked up.
WORKDIR /app
ENV NODE_ENV=production
USER dcm
# Every target inherits this: /readyz is 200 once the store answers (controller) or once a config is
# held (agent: from the controller or its state file; worker: pushed by its agent). Until then agent
# and worker report unhealthy, which does not restart them.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD curl -fsS -o /dev/null "http://127.0.0.1:${PORT}/readyz" || exit 1

FROM runtime AS controller
COPY --from=build-controller /src/dist/controller /usr/local/bin/dcm-controller
ENV PORT=8080 SQLITE_PATH=/data/controller.sqlite
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/dcm-controller"]

FROM runtime AS agent
COPY --from=build-agent /src/dist/agent /usr/local/bin/dcm-agent
ENV PORT=8081 STATE_FILE=/data/agent-state.json
EXPOSE 8081
ENTRYPOINT ["/usr/local/bin/dcm-agent"]

FROM runtime AS worker
COPY --from=build-worker /src/dist/worker /usr/local/bin/dcm-worker
ENV PORT=8082
EXPOSE 8082
ENTRYPOINT ["/usr/local/bin/dcm-worker"]

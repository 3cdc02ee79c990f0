# syntax=docker/dockerfile:1
# Portcullis: multi-stage build on the current Node.js LTS (24), non-root runtime.

FROM node:24-bookworm-slim AS build
WORKDIR /app
# better-sqlite3 12 (still installed, used on Node 20 only) compiles from source when no prebuilt
# binary fits; on Node 24 the store uses the prebuilt Node-API build (optional dependency better-sqlite3-node22).
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev

FROM node:24-bookworm-slim AS runtime
ENV NODE_ENV=production \
    PORTCULLIS_CONFIG=/etc/portcullis/portcullis.yaml \
    PORTCULLIS_SERVER_LISTEN=0.0.0.0:8080 \
    PORTCULLIS_METRICS_LISTEN=0.0.0.0:9464 \
    PORTCULLIS_STORE_URL=sqlite:/data/portcullis.db
WORKDIR /app
COPY --from=build --chown=root:root /app/node_modules ./node_modules
COPY --from=build --chown=root:root /app/dist ./dist
COPY --chown=root:root package.json ./
COPY --chown=root:root config/portcullis.yaml /etc/portcullis/portcullis.yaml
RUN mkdir -p /data && chown 10001:10001 /data
USER 10001:10001
VOLUME ["/data"]
EXPOSE 8080 9464
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:8080/.auth/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# Node is PID 1 and handles SIGTERM itself (graceful shutdown); run with --init if you want a reaper.
# http-proxy 1.18 calls util._extend, which Node 22+ reports once per process as deprecated (DEP0060);
# it is known and harmless, so that one warning is not printed.
ENTRYPOINT ["node", "--disable-warning=DEP0060", "dist/cli.js"]
CMD ["serve"]

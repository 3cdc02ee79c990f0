# syntax=docker/dockerfile:1
# Portcullis: multi-stage build on the current Node.js LTS (26), non-root runtime.

FROM node:26-bookworm-slim AS build
WORKDIR /app
# better-sqlite3 12 (still installed, used on Node 20 only) compiles from source when no prebuilt
# binary fits; on Node 22 and later the store uses the prebuilt Node-API build (optional dependency better-sqlite3-node22).
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev

FROM node:26-bookworm-slim AS runtime
# The container defaults (listen addresses, store) live in the image's config file, not in
# PORTCULLIS_* variables: environment variables win over every config file, so a file mounted
# over this one (the Helm chart's ConfigMap) could not choose its own listen address or store.
ENV NODE_ENV=production \
    PORTCULLIS_CONFIG=/etc/portcullis/portcullis.yaml
WORKDIR /app
COPY --from=build --chown=root:root /app/node_modules ./node_modules
COPY --from=build --chown=root:root /app/dist ./dist
COPY --chown=root:root package.json ./
# config/portcullis.yaml with container addresses (a test keeps routes and rules the same).
COPY --chown=root:root <<'EOF' /etc/portcullis/portcullis.yaml
# Portcullis in a container: the image's defaults. Mount your own file over this one, or change
# single keys with PORTCULLIS_<PATH> variables (PORTCULLIS_SERVER_LISTEN, PORTCULLIS_STORE_URL).
server:
  listen: 0.0.0.0:8080
  public_url: http://localhost:8080
  trusted_proxies: []
  shutdown_timeout: 10s
metrics:
  listen: 0.0.0.0:9464
store:
  url: sqlite:/data/portcullis.db
users:
  admin_username: admin
  seed_file: ""
session:
  cookie_name: portcullis_session
  idle_timeout: 2h
  max_lifetime: 24h
routes:
  - name: echo
    path_prefix: /
    upstream: builtin:echo
access:
  default_policy: deny
  rules:
    - name: badges
      paths: ["/badges/**"]
      methods: [GET, HEAD]
      policy: public
    - name: signed-in
      paths: ["/**"]
      policy: authenticated
EOF
RUN mkdir -p /data && chown 10001:10001 /data
USER 10001:10001
VOLUME ["/data"]
EXPOSE 8080 9464
STOPSIGNAL SIGTERM
# The health check asks the listen address the gateway itself resolves (config file, ${ENV},
# PORTCULLIS_SERVER_LISTEN), through the gateway's own loader; 0.0.0.0 and [::] are asked on loopback.
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "--input-type=module", "-e", "const {loadConfig}=await import('./dist/config/load.js');const {parseListen}=await import('./dist/config/validate.js');const a=parseListen(loadConfig({file:process.env.PORTCULLIS_CONFIG}).server.listen);const h=a.host==='0.0.0.0'?'127.0.0.1':a.host==='::'?'[::1]':a.host.includes(':')?'['+a.host+']':a.host;const r=await fetch('http://'+h+':'+a.port+'/.auth/healthz',{signal:AbortSignal.timeout(2500)}).catch(()=>null);process.exit(r?.ok?0:1)"]
# Node is PID 1 and handles SIGTERM itself (graceful shutdown); run with --init if you want a reaper.
# --no-compact-code-space and --no-memory-reducer: see src/app/node-flags.ts (V8 takes them only
# on the command line).
ENTRYPOINT ["node", "--no-compact-code-space", "--no-memory-reducer", "dist/cli.js"]
CMD ["serve"]

# syntax=docker/dockerfile:1
# forgegate as a small, non-root image. Configuration and keys are volumes:
#   /config/forgegate.yaml   the configuration (read-only mount)
#   /data/keys               key.pem, cert.pem, jwks.json (generated on first start when missing;
#                            share it with the registry, read-only, for auth.token.rootcertbundle)
#
#   docker build -t forgegate .
#   docker run -v ./forgegate.yaml:/config/forgegate.yaml:ro -v forgegate-keys:/data/keys -p 5001:5001 forgegate

# Build: the TypeScript compiler and dev dependencies stay in this stage.
FROM node:24.21.0-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json ./
COPY scripts/bundle.mjs ./scripts/
COPY src ./src
RUN npm run build && npm prune --omit=dev --ignore-scripts

# Runtime: node, the bundled program and production dependencies only.
FROM node:24.21.0-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY config ./config
# The image's own user (uid 1000, "node"), never root. /data/keys belongs to it so that a
# fresh named volume mounted there is writable, and the key can be generated on first start.
RUN mkdir -p /data/keys /config && chown -R node:node /data
USER node
# Relative paths in the configuration (the default keyDir ./data/keys) resolve from /.
WORKDIR /
VOLUME ["/data/keys"]
EXPOSE 5001
# Liveness only: /healthz answers while the process serves. Set FORGEGATE_HEALTHCHECK_URL when
# server.listen is not port 5001 or forgegate serves TLS itself.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch(process.env.FORGEGATE_HEALTHCHECK_URL || 'http://127.0.0.1:5001/healthz', { signal: AbortSignal.timeout(2500) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# SIGTERM: stop accepting, let in-flight requests finish (at most 10 s), close Redis, exit 0.
STOPSIGNAL SIGTERM
# serve starts itself again with a 2 MiB young generation and glibc's arenas bounded, which
# node and glibc read only at start-up (docs/configuration.md, Memory): no flag here.
ENTRYPOINT ["node", "/app/dist/cli.js"]
CMD ["serve", "--config", "/config/forgegate.yaml"]

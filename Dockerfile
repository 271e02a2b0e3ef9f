# syntax=docker/dockerfile:1
# envoy-audit image: multi-stage on Node 24 LTS (Krypton, supported until April 2028). The build stage
# compiles TypeScript with the dev dependencies; the runtime stage has production dependencies, the
# compiled CLI, the schemas and the dashboards/monitor definitions `envoy-audit setup` provisions, and
# runs as the unprivileged node user in /var/lib/envoy-audit, its data directory.
#
# The base image is pinned by digest. To update it, resolve the tag's current digest and replace both
# (docs/production.md, "Images"):
#   docker buildx imagetools inspect node:24-bookworm-slim --format '{{json .Manifest.Digest}}'
# A private registry mirror is passed as a build argument: --build-arg NODE_IMAGE=registry.example/node@sha256:...
ARG NODE_IMAGE=node:24.18.0-bookworm-slim@sha256:6f7b03f7c2c8e2e784dcf9295400527b9b1270fd37b7e9a7285cf83b6951452d

FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: `prepare` would build before the sources are copied.
RUN npm ci --ignore-scripts
COPY tsconfig.json ./
COPY schemas ./schemas
COPY src ./src
RUN npx tsc -p tsconfig.json && chmod +x dist/src/cli/main.js
RUN npm prune --omit=dev --ignore-scripts

# The tools the stack's one-shot `certs` job needs (openssl, htpasswd), installed when the image is
# built, never when the stack starts: an enclave without internet runs it from its private registry.
FROM ${NODE_IMAGE} AS stack-tools
RUN apt-get update \
 && apt-get install -y --no-install-recommends openssl apache2-utils \
 && rm -rf /var/lib/apt/lists/*
COPY deploy/certs/gen-certs.sh /usr/local/bin/gen-certs.sh
# Root: it sets the owner of each volume to the user of the container that mounts it.
ENTRYPOINT ["/bin/sh", "/usr/local/bin/gen-certs.sh"]

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY schemas ./schemas
COPY dashboards ./dashboards
COPY proto ./proto
RUN ln -s /app/dist/src/cli/main.js /usr/local/bin/envoy-audit \
 && mkdir -p /etc/envoy-audit /var/lib/envoy-audit \
 && chown node:node /var/lib/envoy-audit
# The default paths of every command are relative (.envoy-audit/audit.duckdb, the file source's
# .envoy-audit/file-positions.json, demo's out/): they resolve in this directory, which the node user
# owns, so `demo` and `ingest` work in the image. Mount a volume here to keep the data.
WORKDIR /var/lib/envoy-audit
VOLUME /var/lib/envoy-audit
USER node
# Prometheus metrics, /healthz and /readyz (service.port in the run config).
EXPOSE 9464
ENTRYPOINT ["node", "/app/dist/src/cli/main.js"]
CMD ["--help"]

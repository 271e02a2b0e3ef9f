# syntax=docker/dockerfile:1
# envoy-audit image: multi-stage, Node 20. The build stage compiles TypeScript with the dev
# dependencies; the runtime stage has production dependencies, the compiled CLI, the schemas and the
# dashboards/monitor definitions `envoy-audit setup` provisions, and runs as the unprivileged node user.

FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: `prepare` would build before the sources are copied.
RUN npm ci --ignore-scripts
COPY tsconfig.json ./
COPY schemas ./schemas
COPY src ./src
RUN npx tsc -p tsconfig.json && chmod +x dist/src/cli/main.js
RUN npm prune --omit=dev --ignore-scripts

FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY schemas ./schemas
COPY dashboards ./dashboards
RUN ln -s /app/dist/src/cli/main.js /usr/local/bin/envoy-audit \
 && mkdir -p /etc/envoy-audit /var/lib/envoy-audit \
 && chown node:node /var/lib/envoy-audit
USER node
# Prometheus metrics, /healthz and /readyz (service.port in the run config).
EXPOSE 9464
ENTRYPOINT ["node", "/app/dist/src/cli/main.js"]
CMD ["--help"]

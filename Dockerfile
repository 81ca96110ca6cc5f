# The sidecar image that envoy/kubernetes/sidecar.yaml runs (envoy-failover:0.1.0), on Node 22
# (Node 20, which CI tests on, reached end of life in April 2026; package.json's engines allows both).
# Not built in this project's CI: its machines have no container engine. Build it with
#   docker build -t envoy-failover:0.1.0 .
# test/dockerfile.test.ts checks that the runtime stage gets exactly what dist/ imports.
FROM node:22-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
# The compiler (assemblyscript, binaryen) and the test tools are devDependencies: the build uses
# them, then they go; the runtime keeps only `dependencies`, what dist/ imports.
RUN npm run build && npm prune --omit=dev

FROM node:22-bookworm-slim
WORKDIR /app
COPY --from=build /app/package.json /app/package-lock.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/build/failover.wasm ./build/failover.wasm
COPY --from=build /app/examples ./examples
# Least privilege: the image's unprivileged user; the policy comes from a read-only mount.
USER node
EXPOSE 50051 9902
ENTRYPOINT ["node", "/app/dist/cli.js"]
CMD ["serve", "--host", "0.0.0.0", "--admin-host", "0.0.0.0"]

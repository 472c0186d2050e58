# syntax=docker/dockerfile:1
# external-llm-secrets operator image.
#   docker build -t external-llm-secrets:0.1.0 .
#   docker build --build-arg BASE_IMAGE=my-registry/node:24-slim .
# Two stages: the build stage compiles TypeScript and bundles the operator into one ES module
# (scripts/bundle.mjs: only the code it reaches, no node_modules at run time); the runtime stage
# holds that file and its licence notices, and runs as a numeric non-root user. Node is PID 1
# and handles SIGTERM itself (src/main.ts releases the lease and drains).
ARG BASE_IMAGE=node:24-slim

FROM ${BASE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY scripts/bundle.mjs ./scripts/
COPY src ./src
RUN npm run build

FROM ${BASE_IMAGE}
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="external-llm-secrets" \
      org.opencontainers.image.description="Kubernetes operator that syncs LLM API keys from AWS Secrets Manager into Kubernetes Secrets" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV NODE_ENV=production
# V8 flags chosen by the benchmark (npm run bench -- --compiled runs the bundle with exactly the
# flags of the ENTRYPOINT below; 1,000 resources created before the start): a 4 MiB young
# generation instead of V8's default 16 MiB, and the old generation grown by 10 % a step. Against
# --optimize-for-size (which pins the young generation at its smallest whatever the flags say):
# same peak RSS (~120 MB), operator CPU in the cold start 1.86 → 1.42 s, garbage collection
# 460 → 170 ms. V8 takes --heap-growing-percent only on the command line.
WORKDIR /app
COPY --from=build --chown=0:0 /app/dist/operator.mjs /app/dist/operator.mjs.LEGAL.txt ./dist/
# Files stay owned by root and read-only to the operator; it writes nothing (readOnlyRootFilesystem).
USER 10001:10001
EXPOSE 8080 8081
ENTRYPOINT ["node", "--max-semi-space-size=4", "--heap-growing-percent=10", "dist/operator.mjs"]

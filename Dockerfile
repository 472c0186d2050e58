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
# Memory flags chosen by the benchmark (npm run bench -- --compiled, 1,000 resources, peak RSS):
# a 2 MiB young generation instead of V8's default 16 MiB (307 → 194 MB, tsc build), and
# --optimize-for-size, which grows the old generation in smaller steps (bundle: 162–186 → 127 MB;
# operator CPU 6.3 → 6.5 s, cold start unchanged). V8 takes the latter only on the command line.
ENV NODE_OPTIONS="--max-semi-space-size=2"
WORKDIR /app
COPY --from=build --chown=0:0 /app/dist/operator.mjs /app/dist/operator.mjs.LEGAL.txt ./dist/
# Files stay owned by root and read-only to the operator; it writes nothing (readOnlyRootFilesystem).
USER 10001:10001
EXPOSE 8080 8081
ENTRYPOINT ["node", "--optimize-for-size", "dist/operator.mjs"]

# Pixelift's image: `docker build -t pixelift .` (docs/deploy.md says how this file was checked).
# Node 24 is the LTS that CI runs; the slim Debian image has the glibc that sharp's and
# onnxruntime's prebuilt binaries need.
ARG NODE_IMAGE=node:24-bookworm-slim

# better-sqlite3 compiles its binary at install (see README, Install): node-gyp needs Python, make
# and a C++ compiler, and takes Node's headers from the image rather than downloading them.
FROM ${NODE_IMAGE} AS toolchain
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
ENV npm_package_config_node_gyp_nodedir=/usr/local
WORKDIR /app

# dist/: TypeScript and the playground page, with the dev dependencies. No install scripts:
# the compiler needs no native binary, and the root `prepare` would build before src/ is here.
FROM toolchain AS build
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts
COPY tsconfig.json ./
COPY scripts ./scripts
COPY src ./src
COPY web ./web
RUN npm run build

# node_modules for production. `--ignore-scripts` skips the root `prepare` (it builds with the
# dev-only TypeScript); the one dependency script package.json's allowScripts approves is then
# run by name.
FROM toolchain AS deps
COPY package.json package-lock.json .prebuild-installrc ./
RUN npm ci --omit=dev --ignore-scripts \
 && npm rebuild better-sqlite3

FROM ${NODE_IMAGE}
# Listening beyond loopback needs PIXELIFT_API_KEYS at run time (open mode binds to loopback only).
ENV NODE_ENV=production \
    PIXELIFT_DATA_DIR=/data \
    PIXELIFT_HOST=0.0.0.0 \
    PIXELIFT_PORT=8080
WORKDIR /app
COPY package.json ./
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist/src ./dist/src
COPY --from=build /app/dist/web ./dist/web
RUN mkdir /data && chown node:node /data
USER node
# Convert and check every installed network now, into /data/cache/models, so that the first
# request does not wait for it. A new named volume starts with this content; a bind mount
# hides it, and then each model is converted on first use (seconds).
RUN node dist/src/cli/index.js models prepare
VOLUME /data
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s \
  CMD ["node", "-e", "fetch(`http://127.0.0.1:${process.env.PIXELIFT_PORT}/readyz`).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "dist/src/cli/index.js", "serve"]

# One dkv node per container; docker-compose.yml runs three of them beside the official NATS image.
# The sources run through tsx (a runtime dependency), so there is no build step.
FROM node:20-bookworm-slim

WORKDIR /app
ENV NODE_ENV=production

# Dependencies first, so that a source change reuses this layer. lmdb and msgpackr ship
# prebuilt native binaries inside their npm packages: no compiler is needed.
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

COPY tsconfig.json ./
COPY src ./src
COPY actors ./actors

# The node's lmdb data lives in a volume mounted here, owned by the unprivileged user.
RUN mkdir -p /data && chown node:node /data
VOLUME ["/data"]
USER node

# nats-server is not in this image: `dkv dev` (which starts one) is for a laptop, in compose the
# nodes connect to the `nats` service.
ENTRYPOINT ["node", "actors/bin.mjs"]
CMD ["--help"]

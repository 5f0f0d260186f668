# syntax=docker/dockerfile:1
# Multi-stage build: compile the three binaries in the official Rust image, ship
# them in a slim Debian runtime. Uses BuildKit cache mounts (default builder).
# The build context holds no .git: pass the commit to embed (metrics, job records),
#   HARVESTER_GIT_COMMIT=$(git rev-parse --short=12 HEAD) docker compose build

FROM rust:1-bookworm AS builder
ARG HARVESTER_GIT_COMMIT=unknown
ENV HARVESTER_GIT_COMMIT=$HARVESTER_GIT_COMMIT
WORKDIR /src
COPY . .
# The target dir lives in a cache mount, so copy the binaries out of it in the
# same RUN step. --workspace also builds generate-log, the binary of the generator
# crate (generator/).
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --workspace --bins \
 && mkdir -p /out \
 && cp target/release/harvest target/release/view target/release/generate-log /out/

FROM debian:bookworm-slim AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates bash \
 && rm -rf /var/lib/apt/lists/*
RUN useradd --create-home --uid 10001 --shell /bin/bash harvester \
 && mkdir -p /data/in /data/inbox /data/out \
 && chown -R harvester:harvester /data
COPY --from=builder /out/ /usr/local/bin/
USER harvester
WORKDIR /data
# harvest --metrics 0.0.0.0:9464: /metrics, /healthz, /readyz
EXPOSE 9464
CMD ["bash"]

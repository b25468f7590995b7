# The `strata` binary in a small image: one image for every role (serve,
# scheduler, worker, migrate, the operator commands); the command picks the
# role. docker-compose.yml builds it as strata:local.
#
#   docker build -t strata .
#   docker run --rm strata --help

# The toolchain the workspace's locked dependencies build with (sqlx 0.9
# needs 1.94 or later).
ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-slim-bookworm AS builder
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p strata-cli --bin strata \
    && install -m 0755 target/release/strata /usr/local/bin/strata

FROM debian:bookworm-slim
# ca-certificates: object stores over https; curl: the compose health checks.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 strata \
    && useradd --system --uid 10001 --gid strata --home-dir /var/lib/strata --shell /usr/sbin/nologin strata \
    && install -d -o strata -g strata -m 0750 /var/lib/strata
COPY --from=builder /usr/local/bin/strata /usr/local/bin/strata
USER strata:strata
WORKDIR /var/lib/strata
# The data directory: the embedded catalog and local tiers when those are
# used; with a PostgreSQL catalog and object-store tiers, scratch only.
ENV STRATA_DATA_DIR=/var/lib/strata \
    STRATA_LOG=info
# 8080: `strata serve --listen 0.0.0.0:8080`; 9187: `strata worker --metrics-listen 0.0.0.0:9187`.
# No HEALTHCHECK here: each role has its own (docker-compose.yml sets them).
EXPOSE 8080 9187
ENTRYPOINT ["strata"]
CMD ["serve", "--listen", "0.0.0.0:8080"]

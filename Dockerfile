# syntax=docker/dockerfile:1
# Needs BuildKit (the default builder of Docker 23+ and of `docker buildx`;
# on older Docker, DOCKER_BUILDKIT=1): the build caches the crate registry and
# target/ in cache mounts, so a rebuild compiles only what changed, without a
# placeholder crate to keep in step with the manifest.
#
# tests/dockerfile-check.sh (run by tests/run.sh) replays the build stage on a
# clean copy of exactly the paths COPY'd below: a file the build needs must be
# listed here.

FROM rust:1.95-bookworm AS build
WORKDIR /app
# The workspace: cargo loads every member, so the loadgen member is copied
# (it is not compiled), and the bench declared in Cargo.toml must exist.
# Migrations and the dashboard are compiled into the binary.
COPY Cargo.toml Cargo.lock ./
COPY loadgen ./loadgen
COPY benches/hot_paths.rs ./benches/hot_paths.rs
COPY migrations ./migrations
COPY frontend-examples/admin-dashboard ./frontend-examples/admin-dashboard
COPY src ./src
# The binary is copied out of the cache mount, which is not part of the image.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/app/target,sharing=locked \
    cargo build --release --locked -p realtime-dashboard --bin realtime-dashboard \
    && cp target/release/realtime-dashboard /usr/local/bin/realtime-dashboard

FROM debian:bookworm-slim AS runtime
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin app \
    && mkdir -p /data && chown app /data
COPY --from=build /usr/local/bin/realtime-dashboard /usr/local/bin/realtime-dashboard
USER app
WORKDIR /app
ENV HOST=0.0.0.0 PORT=4000 DATA_DIR=/data LOG_FORMAT=json
VOLUME ["/data"]
EXPOSE 4000
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD curl -fsS "http://127.0.0.1:${PORT}/healthz" || exit 1
ENTRYPOINT ["realtime-dashboard"]
CMD ["serve"]

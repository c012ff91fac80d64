# Multi-stage build: dependencies are compiled in their own layer, so a change
# to the sources rebuilds only the crate itself.

FROM rust:1.95-bookworm AS build
WORKDIR /app
# 1. Dependencies only, against a placeholder crate.
COPY Cargo.toml Cargo.lock ./
RUN mkdir -p src tests/e2e \
    && echo 'fn main() {}' > src/main.rs \
    && touch src/lib.rs tests/e2e/main.rs \
    && cargo build --release --locked \
    && rm -rf src tests
# 2. The crate.
COPY src ./src
COPY migrations ./migrations
COPY frontend-examples/admin-dashboard ./frontend-examples/admin-dashboard
COPY tests/e2e/main.rs ./tests/e2e/main.rs
RUN touch src/main.rs src/lib.rs && cargo build --release --locked --bin realtime-dashboard

FROM debian:bookworm-slim AS runtime
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin app \
    && mkdir -p /data && chown app /data
COPY --from=build /app/target/release/realtime-dashboard /usr/local/bin/realtime-dashboard
USER app
WORKDIR /app
ENV HOST=0.0.0.0 PORT=4000 DATA_DIR=/data LOG_FORMAT=json
VOLUME ["/data"]
EXPOSE 4000
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD curl -fsS "http://127.0.0.1:${PORT}/healthz" || exit 1
ENTRYPOINT ["realtime-dashboard"]
CMD ["serve"]

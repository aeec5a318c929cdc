# procurize: the CLI and the webhook workflow service (`procurize serve`).
#
#   docker build -t procurize .
#   docker run -d -p 8080:8080 -e PROCURIZE_WEBHOOK_SECRET=... -v procurize-data:/data \
#     -v "$PWD/procurize.toml:/etc/procurize/procurize.toml:ro" \
#     procurize serve --config /etc/procurize/procurize.toml

# Build: the whole workspace's lockfile, only the binary installed.
FROM rust:1.95-slim-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends pkg-config libssl-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p procurize-cli \
 && install -m 0755 target/release/procurize /usr/local/bin/procurize

# Run: Debian slim with CA roots and libssl (linked by the Jira client), as a non-root user.
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates libssl3 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /data --create-home procurize
COPY --from=build /usr/local/bin/procurize /usr/local/bin/procurize
USER procurize
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8080
STOPSIGNAL SIGTERM
# Probe GET /healthz (alive) and GET /readyz (ready) over HTTP from the orchestrator.
ENTRYPOINT ["procurize"]
CMD ["serve", "--config", "/etc/procurize/procurize.toml"]

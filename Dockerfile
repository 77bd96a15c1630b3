# The one openamt image: every service of compose.yaml runs it with a different subcommand
# (secrets, mps, rps, router, webui, health, ...).
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin openamt

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates libssl3 \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/openamt /usr/local/bin/openamt
# The reference stack's health checks call /app (mps-router's image); keep that path working.
RUN ln -s /usr/local/bin/openamt /app
COPY kong/kong.yaml /etc/openamt/kong.yaml
WORKDIR /var/lib/openamt
ENTRYPOINT ["openamt"]
CMD ["--help"]

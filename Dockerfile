# bedrock-gate: a multi-stage build into a small, non-root runtime image.
#
#   docker build --build-arg GATE_GIT_COMMIT=$(git rev-parse --short=12 HEAD) -t bedrock-gate .
#   docker run -p 8080:8080 -p 8081:8081 -v gate-data:/var/lib/bedrock-gate \
#       -e AWS_ACCESS_KEY_ID -e AWS_SECRET_ACCESS_KEY -e AWS_SESSION_TOKEN bedrock-gate
#
# The configuration is /etc/bedrock-gate/bedrock-gate.toml (config/docker.toml); any key
# can be overridden with BEDROCK_GATE_<SECTION>__<KEY>. See compose.yaml for MariaDB and
# two proxies.

FROM rust:1-bookworm AS build
WORKDIR /src
# The build context has no .git (.dockerignore): the commit comes in as a build argument.
ARG GATE_GIT_COMMIT=unknown
ENV GATE_GIT_COMMIT=${GATE_GIT_COMMIT}
COPY . .
RUN cargo build --release --locked --bin bedrock-gate \
    && mkdir -p /out/man /out/completions /out/state \
    && target/release/bedrock-gate man --out /out/man \
    && for shell in bash zsh fish; do \
         target/release/bedrock-gate completions "$shell" > "/out/completions/bedrock-gate.$shell"; \
       done

# glibc, libgcc and CA certificates, no shell; runs as uid 65532 ("nonroot").
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/bedrock-gate /usr/local/bin/bedrock-gate
COPY --from=build /out/man /usr/local/share/man/man1
COPY --from=build /out/completions /usr/local/share/bedrock-gate/completions
COPY config/docker.toml /etc/bedrock-gate/bedrock-gate.toml
COPY --from=build --chown=65532:65532 /out/state /var/lib/bedrock-gate
ENV BEDROCK_GATE_CONFIG=/etc/bedrock-gate/bedrock-gate.toml
VOLUME ["/var/lib/bedrock-gate"]
WORKDIR /var/lib/bedrock-gate
USER nonroot
EXPOSE 8080 8081
# `health` asks the admin listener's /healthz (admin.listen, on loopback): no shell or
# curl in this image. Use `health --ready` in an orchestrator's readiness probe.
HEALTHCHECK --interval=15s --timeout=6s --start-period=30s --retries=3 \
    CMD ["/usr/local/bin/bedrock-gate", "health"]
ENTRYPOINT ["/usr/local/bin/bedrock-gate"]
CMD ["serve"]

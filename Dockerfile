# slack-im container image: one static musl binary and the templates, FROM scratch.
#
# With a registry (compiles inside the builder stage):
#     docker build -t slack-im .
# Without a registry (binary built on the host with
# `cargo build --release --locked --target x86_64-unknown-linux-musl`, then copied
# alone into a directory DIR as DIR/slack-im): the named build context `binary`
# replaces the stage of that name, so the builder stage is never used (or pulled):
#     podman build --build-context binary=DIR --target image -t slack-im .
#     docker buildx build --build-context binary=DIR --target image -t slack-im .
# .ci/image.sh does the latter; docs/container.md has the details.
#
# Needs BuildKit (docker >= 23 default, or buildx) or podman/buildah: COPY --chmod.

ARG RUST_VERSION=1.95

# ---- builder: compiles the static binary (rustls, no OpenSSL) ---------------------------------
FROM docker.io/library/rust:${RUST_VERSION}-slim-bookworm AS builder
# musl-gcc for the C parts of the TLS stack (ring).
RUN apt-get update \
 && apt-get install -y --no-install-recommends musl-tools \
 && rm -rf /var/lib/apt/lists/* \
 && rustup target add x86_64-unknown-linux-musl
WORKDIR /src
# .dockerignore lets only the manifests, the lock file and the sources in.
COPY . .
RUN cargo build --release --locked --target x86_64-unknown-linux-musl -p slack-im \
 && mkdir /out \
 && cp target/x86_64-unknown-linux-musl/release/slack-im /out/slack-im

# ---- binary: just /slack-im. `--build-context binary=DIR` (DIR/slack-im) overrides this stage --
FROM scratch AS binary
COPY --from=builder /out/slack-im /slack-im

# ---- image: what users run ----------------------------------------------------------------------
FROM scratch AS image
ARG VERSION=unknown
ARG REVISION=unknown
ARG CREATED=unknown
ARG SOURCE=https://github.com/slack-im/slack-im
LABEL org.opencontainers.image.title="slack-im" \
      org.opencontainers.image.description="Keeps a system's agent accounts following the company Slack workspace" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.url="${SOURCE}" \
      org.opencontainers.image.documentation="${SOURCE}/blob/main/docs/container.md" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}"
# No CA file: the Mozilla roots are compiled into the binary, and SSL_CERT_FILE adds a private CA
# to them (it does not replace them). No /etc/passwd: the user is numeric.
COPY --from=binary --chmod=0555 /slack-im /slack-im
# 0555, not the checkout's modes: a checkout made with umask 077 would leave the templates
# unreadable by uid 65532 (0555 keeps the directories traversable).
COPY --chmod=0555 templates/ /templates/
ENV SLACK_IM_TEMPLATES=/templates
USER 65532:65532
ENTRYPOINT ["/slack-im"]
CMD ["sync"]

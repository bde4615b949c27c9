# syntax=docker/dockerfile:1
# entra-sidecar image for linux/amd64 and linux/arm64: a static (musl) binary cross-built with
# cargo-zigbuild on the build platform, on a distroless static base (CA certificates, no shell), as a
# non-root user. A drop-in for Microsoft's auth sidecar image: same port (8080, as ASP.NET images), same
# working directory for a mounted appsettings.json (/app), same environment variables.
#
#   docker buildx build --platform linux/amd64,linux/arm64 -f deploy/entra-sidecar.Dockerfile -t entra-sidecar .
#   docker run --rm -p 127.0.0.1:8080:8080 -e AzureAd__TenantId=... -e AzureAd__ClientId=... entra-sidecar
#
# CI has no Docker engine: .ci/run builds the same static binaries with the same command and reports their
# size (the image adds the ~2 MB distroless base).

ARG RUST_VERSION=1.95
FROM --platform=$BUILDPLATFORM rust:${RUST_VERSION}-slim-bookworm AS builder
ARG TARGETARCH
# ziglang and cargo-zigbuild from PyPI: the C compiler and linker for both musl targets.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3-pip \
    && rm -rf /var/lib/apt/lists/* \
    && pip3 install --no-cache-dir --break-system-packages ziglang==0.17.1 cargo-zigbuild==0.24.1
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    case "$TARGETARCH" in \
      amd64) triple=x86_64-unknown-linux-musl ;; \
      arm64) triple=aarch64-unknown-linux-musl ;; \
      *) echo "unsupported architecture $TARGETARCH" >&2; exit 1 ;; \
    esac \
    && rustup target add "$triple" \
    && cargo zigbuild --release --locked -p entra-sidecar --target "$triple" \
    && install -D -s -m 0755 "target/$triple/release/entra-sidecar" /out/entra-sidecar

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=builder /out/entra-sidecar /usr/local/bin/entra-sidecar
WORKDIR /app
ENV ASPNETCORE_HTTP_PORTS=8080
EXPOSE 8080
# The distroless "nonroot" user.
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/entra-sidecar"]

# syntax=docker/dockerfile:1
# Multi-stage build of qcloud-ingress-webhook:
#   docker build -t qcloud-ingress-webhook:0.1.0 .
# The final image is distroless/cc (glibc of Debian 12, CA certificates, no shell, no package
# manager) running as uid/gid 65532, the user the Helm chart's securityContext expects
# (tests/chart/test_chart.py checks that the two agree). It listens on 8443 (HTTPS webhook) and
# 8080 (admin); the chart passes the flags, the certificate and the config.

# Builder on Debian 12 (bookworm), the same glibc as the runtime image below.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
# BuildKit cache mounts keep the registry and target dir between builds, so a source edit does
# not rebuild every dependency (works whatever files the crate embeds, unlike a dummy-main layer).
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin qcloud-ingress-webhook \
    && install -D -m 0755 target/release/qcloud-ingress-webhook /out/qcloud-ingress-webhook

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/qcloud-ingress-webhook /usr/local/bin/qcloud-ingress-webhook
USER 65532:65532
EXPOSE 8443 8080
ENTRYPOINT ["/usr/local/bin/qcloud-ingress-webhook"]
CMD ["serve", "--tls-cert=/etc/qcloud-ingress-webhook/tls/tls.crt", "--tls-key=/etc/qcloud-ingress-webhook/tls/tls.key"]

# syntax=docker/dockerfile:1
# Multi-stage build of qcloud-ingress-webhook. The final image is distroless/cc (glibc, CA
# certificates, no shell) running as uid/gid 65532, the user the Helm chart's securityContext
# expects (tests/chart/test_chart.py checks the two agree).

FROM rust:1.95-bookworm AS build
WORKDIR /src
# Dependencies first, so source edits do not rebuild them.
COPY Cargo.toml Cargo.lock ./
RUN mkdir src && echo 'fn main() {}' > src/main.rs && touch src/lib.rs \
    && cargo build --release --locked \
    && rm -rf src
COPY src ./src
RUN touch src/main.rs src/lib.rs \
    && cargo build --release --locked \
    && cp target/release/qcloud-ingress-webhook /qcloud-ingress-webhook

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /qcloud-ingress-webhook /usr/local/bin/qcloud-ingress-webhook
USER 65532:65532
# 8443: AdmissionReviews over HTTPS; 8080: /healthz, /readyz, /metrics.
EXPOSE 8443 8080
ENTRYPOINT ["/usr/local/bin/qcloud-ingress-webhook"]
CMD ["serve", "--tls-cert=/etc/qcloud-ingress-webhook/tls/tls.crt", "--tls-key=/etc/qcloud-ingress-webhook/tls/tls.key"]

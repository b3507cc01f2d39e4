# syntax=docker/dockerfile:1
# The image of qcloud-ingress-webhook, for those who build with Docker:
#   docker build --build-arg QIW_GIT_COMMIT="$(git rev-parse HEAD)" -t qcloud-ingress-webhook:0.1.0 .
# One recipe with scripts/image.sh, which builds the same image without a daemon (reproducibly, as
# an OCI archive): both assemble the runtime root with `scripts/image/build.py rootfs` from
# Debian's own packages (the shared libraries the binary links, their copyright files, the CA
# bundle, /etc/passwd and /etc/group with the non-root user 65532, /tmp) and put the binary at
# /usr/local/bin. The final stage's USER, WORKDIR, ENV, EXPOSE, ENTRYPOINT and CMD are the config
# build.py writes; scripts/image-test.sh fails when they differ, and tests/chart/test_chart.py
# checks the user and ports against the chart. It listens on 8443 (HTTPS webhook) and 8080
# (admin); the chart passes the flags, the certificate and the config.

# Builder on Debian 12 (bookworm): the runtime root takes its libraries from the same release.
FROM rust:1.95-bookworm AS build
ARG QIW_GIT_COMMIT=unknown
RUN apt-get update && apt-get install -y --no-install-recommends python3
WORKDIR /src
COPY . .
# BuildKit cache mounts keep the registry and target dir between builds, so a source edit does
# not rebuild every dependency (works whatever files the crate embeds, unlike a dummy-main layer).
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/src/target \
    QIW_GIT_COMMIT="$QIW_GIT_COMMIT" cargo build --release --locked --bin qcloud-ingress-webhook \
    && python3 scripts/image/build.py rootfs --binary target/release/qcloud-ingress-webhook \
       --out /rootfs --debs /tmp/debs

FROM scratch
COPY --from=build /rootfs/ /
USER 65532:65532
WORKDIR /home/nonroot
ENV PATH=/usr/local/bin:/usr/bin:/bin SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
EXPOSE 8443 8080
ENTRYPOINT ["/usr/local/bin/qcloud-ingress-webhook"]
CMD ["serve", "--tls-cert=/etc/qcloud-ingress-webhook/tls/tls.crt", "--tls-key=/etc/qcloud-ingress-webhook/tls/tls.key"]

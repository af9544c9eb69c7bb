# The image the Helm chart runs (charts/prescale, `image.repository`): the `prescale` binary on a
# distroless base, as the non-root user 65532 the chart's securityContext expects.
#   docker build -t ghcr.io/prescale/prescale:0.1.0 .
# The image's binary is stripped of debug info; the symbols are kept apart, in the `symbols`
# stage (scripts/dist.sh splits them):
#   docker build --target symbols -o type=local,dest=dist .   # dist/prescale.debug
# Build stage: the workspace's pinned Cargo.lock; rustls everywhere, so no OpenSSL is needed.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN DIST_DIR=/out scripts/dist.sh

# The debug info of the image's binary (its .gnu_debuglink names this file, with a CRC).
FROM scratch AS symbols
COPY --from=build /out/prescale.debug /prescale.debug

# Runtime: glibc and CA certificates only.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/prescale /usr/local/bin/prescale
USER 65532:65532
EXPOSE 6000 8080
ENTRYPOINT ["/usr/local/bin/prescale"]
CMD ["serve", "--grpc-addr", "0.0.0.0:6000", "--http-addr", "0.0.0.0:8080", "--data-dir", "/var/lib/prescale"]

# model-server: the fraud model's SageMaker inference container (see docs/model-server.md).
#
#   docker build -t fraud-model-server .
#   docker run -p 8080:8080 fraud-model-server            # SageMaker runs: docker run IMAGE serve
#
# Stage 1 builds the release binary with the Swift runtime linked in statically; stage 2 is a slim Debian
# with that binary, the C libraries it loads (yajl, zlib; curl and libcrypto for `--model-dir s3://…`) and the
# model bundle at /opt/ml/model (SageMaker mounts the model artefacts there, over the bundled one).
ARG SWIFT_IMAGE=swift:6.3-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

FROM ${SWIFT_IMAGE} AS build
RUN export DEBIAN_FRONTEND=noninteractive \
    && apt-get -q update \
    && apt-get -q install -y --no-install-recommends \
        pkg-config libyajl-dev zlib1g-dev libcurl4-openssl-dev libssl-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /build
# Dependencies first, so source edits do not refetch them.
COPY Package.* ./
RUN swift package resolve
COPY Sources ./Sources
COPY Tests ./Tests
# Package.swift declares the benchmark targets here; SwiftPM refuses to build when a target's path is missing.
COPY bench/ScorerBench ./bench/ScorerBench
COPY bench/SigningBench ./bench/SigningBench
RUN swift build -c release --product model-server --static-swift-stdlib \
    && install -D -m 0755 "$(swift build -c release --show-bin-path)/model-server" /out/model-server \
    && strip /out/model-server

FROM ${RUNTIME_IMAGE}
RUN export DEBIAN_FRONTEND=noninteractive \
    && apt-get -q update \
    && apt-get -q install -y --no-install-recommends libyajl2 zlib1g libstdc++6 libcurl4 libssl3 ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --no-create-home --shell /usr/sbin/nologin model
COPY --from=build /out/model-server /usr/local/bin/model-server
COPY models/v1 /opt/ml/model
# SageMaker multi-container endpoints pass the port in SAGEMAKER_BIND_TO_PORT (else 8080).
# SageMaker connects from outside the container: listen on every interface (the binary defaults to loopback).
ENV MODEL_SERVER_HOST=0.0.0.0
LABEL com.amazonaws.sagemaker.capabilities.accept-bind-to-port=true
EXPOSE 8080
USER model
ENTRYPOINT ["/usr/local/bin/model-server"]
CMD ["serve"]

# syntax=docker/dockerfile:1
#
# Marmot's image: the autoscaler, the hibernator and the simulator as static binaries on distroless,
# run as a non-root user. docs/operations.md#docker says how to build and run it.
#
#   docker build --build-arg VERSION=$(git describe --tags --always --dirty) -t marmot:dev .
#   docker run --rm marmot:dev autoscaler --version
#   docker run --rm -p 9101:9101 -e AWS_REGION=us-east-1 -v /etc/marmot:/etc/marmot:ro marmot:dev \
#     autoscaler --mesos-url http://m1:5050 --marathon-url http://marathon.mesos:8080 --policy /etc/marmot/autoscaler.yaml

ARG GO_VERSION=1.26
# gcr.io/distroless/static: no shell, no libc; CA certificates, /etc/passwd with "nonroot" (65532), tzdata.
ARG BASE_IMAGE=gcr.io/distroless/static-debian12:nonroot

FROM golang:${GO_VERSION} AS build
WORKDIR /src
# Modules first, so that the layer is cached while only the sources change. seed-modules.sh must run
# before "go mod download": the proxy serves go-marathon's pinned pseudo-version's .mod and .zip but
# refuses its .info, so the script writes the .info into the module cache itself (go.sum still checks
# the zip).
COPY go.mod go.sum ./
COPY scripts/seed-modules.sh scripts/
RUN --mount=type=cache,target=/go/pkg/mod \
    ./scripts/seed-modules.sh && go mod download && go mod verify
COPY . .
ARG VERSION=""
# CGO_ENABLED=0: pure-Go net and user lookups, so the binaries need no libc and run on distroless/static.
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=linux go build -trimpath -buildvcs=false \
      -ldflags "-s -w -X github.com/marmot-project/marmot/internal/daemon.version=${VERSION}" \
      -o /out/ ./cmd/autoscaler ./cmd/hibernator ./cmd/simulate

FROM ${BASE_IMAGE}
ARG VERSION=""
LABEL org.opencontainers.image.title="marmot" \
      org.opencontainers.image.description="Marmot: an autoscaler for Mesos agent pools on AWS and a hibernator for idle Marathon apps" \
      org.opencontainers.image.source="https://github.com/marmot-project/marmot" \
      org.opencontainers.image.documentation="https://github.com/marmot-project/marmot/blob/main/docs/operations.md" \
      org.opencontainers.image.version="${VERSION}"
COPY --from=build /out/autoscaler /out/hibernator /out/simulate /usr/local/bin/
# 65532 is distroless's "nonroot"; numeric, so that Kubernetes-style runAsNonRoot checks can see it.
USER 65532:65532
# autoscaler /metrics, /status; hibernator /metrics, /status; hibernator activator.
EXPOSE 9101 9102 9103
# One image, three commands: name the one to run, e.g. "autoscaler --mesos-url ...".
ENTRYPOINT []
CMD ["autoscaler", "--help"]

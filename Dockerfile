# dohstub in a container, e.g. as a DNS sidecar (README.md, "Container
# sidecar"; conf/kubernetes-sidecar.yaml).
#
#	docker build -t dohstub .
#	docker run --rm -p 127.0.0.1:53:53/udp -p 127.0.0.1:53:53/tcp \
#	    -p 127.0.0.1:9153:9153 dohstub
#
# Publish the ports on loopback or a private network only: README.md says
# what the image exposes.  The test suite builds it with podman
# (tests/integration/test_container.py).
#
# Configured from the environment alone (DOHSTUB_*, see dohstub.conf(5));
# the defaults below are overridden with -e or the pod's env.

FROM debian:12-slim AS build
# Build-time only (ARG, not ENV): apt's prompts off, nothing left in the
# image's environment.
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
	&& apt-get install -y --no-install-recommends \
		build-essential cmake pkg-config \
		libssl-dev libnghttp2-dev libc-ares-dev libevent-dev \
		libcap2-bin \
	&& rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cmake -S . -B /build -DCMAKE_BUILD_TYPE=RelWithDebInfo \
		-DDOHSTUB_INTEGRATION=OFF \
	&& cmake --build /build --target dohstub -j"$(nproc)" \
	&& install -s -m 0755 /build/dohstub /dohstub \
	&& setcap cap_net_bind_service=+ep /dohstub \
	&& getcap /dohstub | grep -q cap_net_bind_service

FROM debian:12-slim
ARG DEBIAN_FRONTEND=noninteractive
# The libraries the daemon links (libevent_core comes with the other two,
# named here all the same), and the CA store for the upstreams.  apt's
# lists and caches are removed in the same layer, whatever the base's apt
# configuration (Debian's slim image keeps none; a base made with
# debootstrap would keep 80 MB of them).
RUN apt-get update \
	&& apt-get install -y --no-install-recommends \
		libssl3 libnghttp2-14 libc-ares2 libevent-core-2.1-7 \
		libevent-extra-2.1-7 libevent-openssl-2.1-7 \
		ca-certificates \
	&& apt-get clean \
	&& rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin \
	&& useradd --system --uid 10053 --user-group --no-create-home \
		--home-dir /nonexistent --shell /usr/sbin/nologin dohstub
# Owned by root and copied without --chown: a change of owner clears the
# file capability that lets the non-root user bind port 53.
COPY --from=build /dohstub /usr/sbin/dohstub
ENV DOHSTUB_LISTEN=0.0.0.0:53 \
	DOHSTUB_METRICS=0.0.0.0:9153 \
	DOHSTUB_MODE=encrypted-only \
	DOHSTUB_UPSTREAM=https://cloudflare-dns.com/dns-query,https://dns.quad9.net/dns-query \
	DOHSTUB_RESOLVE=cloudflare-dns.com:443:1.1.1.1,1.0.0.1,dns.quad9.net:443:9.9.9.9,149.112.112.112
# Numeric, so that Kubernetes can check runAsNonRoot against the image.
# Run as root all the same (--user 0), dohstub binds and then drops to
# this dohstub user by itself, as on a host (dohstub(8)).
USER 10053:10053
EXPOSE 53/udp 53/tcp 9153/tcp
# No HEALTHCHECK: the slim image has no HTTP client.  Probe /health on
# port 9153 from outside (Kubernetes: httpGet).
ENTRYPOINT ["/usr/sbin/dohstub", "-c", "/dev/null"]

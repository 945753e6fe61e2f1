# balena-sign container image: a release build, then a slim Debian
# runtime holding the binary and the shared libraries it links.
#
#   docker build -t balena-sign .
#   docker run -d -p 8080:8080 -v balena-sign-data:/var/lib/balena-sign balena-sign
#
# The build stage must use the Debian release of the runtime stage, so the
# binary finds the same glibc and libcryptsetup there.

ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-slim-bookworm AS build

# libcryptsetup-dev and pkg-config for the LUKS2 bindings, libclang-dev for
# bindgen, which generates them; AWS-LC compiles with the image's gcc.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libclang-dev libcryptsetup-dev pkg-config \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /src
COPY . .
RUN cargo build --release --locked --package balena-sign \
    && install -D -m 0755 target/release/balena-sign /out/balena-sign

FROM debian:bookworm-slim

# libcryptsetup12 is the only shared library the binary links besides libc
# and libgcc; apt brings its own dependencies (libdevmapper, libargon2,
# libjson-c, libssl3). ca-certificates lets rustls check the certificate
# of the balenaCloud API.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates libcryptsetup12 \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 999 balenasign \
    && useradd --system --uid 999 --gid 999 --home-dir /nonexistent --no-create-home \
        --shell /usr/sbin/nologin balenasign \
    && install -d -o 999 -g 999 -m 0700 /var/lib/balena-sign

COPY --from=build /out/balena-sign /usr/local/bin/balena-sign

# A new named volume takes the owner and mode of this folder.
ENV BALENASIGN_LISTEN=0.0.0.0:8080 \
    BALENASIGN_STORE=/var/lib/balena-sign
VOLUME ["/var/lib/balena-sign"]
EXPOSE 8080

# Unlocking a LUKS2 volume (BALENASIGN_LUKS_KEY) needs root: run such a
# container as user 0, privileged; the server switches to 999:999 after
# mounting.
USER 999:999

HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
    CMD ["balena-sign", "health"]

ENTRYPOINT ["balena-sign"]
CMD ["serve"]

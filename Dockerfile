# sepm-reconciler: the controller image.
#
#   podman build --format docker -t sepm-reconciler .        (or: docker build -t sepm-reconciler .)
#   podman run --read-only -v ./desired-state:/desired-state:ro -v sepm-state:/var/lib/sepm-reconciler \
#     -v ./secrets:/run/secrets:ro -p 9808:9808 sepm-reconciler
#
# The base is Debian's own slim image with Python from Debian's packages, so a Debian tree made with
# debootstrap and tagged debian:bookworm-slim builds the same Dockerfile where no registry can be reached
# (scripts/image.sh does that). Two stages: the build stage makes a virtual environment with the package
# and its wheels; the runtime stage copies it beside Debian's python3, with git for the applied revision.
ARG DEBIAN_IMAGE=debian:bookworm-slim

FROM ${DEBIAN_IMAGE} AS build
# Debian's stable packages take security fixes under the same name: pinning their versions would break
# the build at the next point release, so the release (bookworm) is the pin.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml README.md ./
COPY reconciler ./reconciler
# The package's own dependency ranges (pyproject.toml) are the pins; the wheel is built from this tree.
# A build behind a TLS-inspecting proxy passes its CA bundle as the optional build secret `ca-bundle`
# (`--secret id=ca-bundle,src=/etc/ssl/certs/ca-certificates.crt`): pip trusts it for this step only, and
# it is never written into a layer.
RUN --mount=type=secret,id=ca-bundle \
    python3 -m venv /opt/sepm-reconciler \
 && if [ -s /run/secrets/ca-bundle ]; then export PIP_CERT=/run/secrets/ca-bundle; fi \
 && /opt/sepm-reconciler/bin/pip install --no-cache-dir --disable-pip-version-check . \
 && /opt/sepm-reconciler/bin/sepm-reconciler --version

FROM ${DEBIAN_IMAGE}
ARG UID=10001
# git reads the applied revision of the checkout (git-sync's or a bind mount); it belongs to another
# user, so git's ownership check is turned off for the whole image (the checkout is read, never written).
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 git ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && git config --system safe.directory '*' \
 && useradd --system --uid "${UID}" --user-group --home-dir /var/lib/sepm-reconciler --no-create-home \
      --shell /usr/sbin/nologin sepm-reconciler \
 && install -d -o "${UID}" -g "${UID}" -m 0700 /var/lib/sepm-reconciler \
 && install -d -m 0755 /desired-state /run/secrets
COPY --from=build /opt/sepm-reconciler /opt/sepm-reconciler

ENV PATH=/opt/sepm-reconciler/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    SEPM_RECONCILER_STATE_DIR=/var/lib/sepm-reconciler \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    LANG=C.UTF-8

# The journal (SQLite, WAL) and the status files: a volume, local to the host (WAL needs shared memory).
VOLUME ["/var/lib/sepm-reconciler"]
USER ${UID}:${UID}
WORKDIR /var/lib/sepm-reconciler
EXPOSE 9808
# The image's own Python fetches /healthz: no curl in the image.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["python3", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9808/healthz', timeout=4)"]
ENTRYPOINT ["sepm-reconciler"]
# Inside the container the metrics port listens on every interface (outside it, loopback stays the default).
CMD ["run", "/desired-state", "--metrics-address", "0.0.0.0"]

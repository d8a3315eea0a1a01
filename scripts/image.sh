#!/usr/bin/env bash
# Check, build and run the container image; CI runs it (.ci/run).
#
#   scripts/image.sh [auto|fast|full]      (default: auto)
#
# fast  the checks that need no build engine: hadolint on the Dockerfile, the PrometheusRule generated
#       from deploy/prometheus/alerts.yaml is up to date, every Kubernetes manifest validated offline
#       (kubernetes-validate --strict for Kubernetes' own kinds; the prometheus-operator kinds against
#       their CRD models, see scripts/check_manifests.py), the systemd unit (systemd-analyze verify).
# full  fast, then: a Debian base made with debootstrap and tagged as the Dockerfile's base (only when
#       no such image is there already), the image built, `demo` run inside it (exit code and report
#       checked), and the image run as the controller against a simulator on the host for one rotation
#       (scripts/image_e2e.py).
# auto  full when a build engine (podman) and debootstrap are installed and SEPM_IMAGE_BUILD is not
#       "skip"; otherwise fast, saying what was skipped and why.
#
# Needs the project's virtualenv (`make .venv/.installed`). Environment: SEPM_IMAGE (tag to build,
# default localhost/sepm-reconciler:ci), SEPM_IMAGE_BUILD=skip, DEBIAN_MIRROR (default: the mirror apt
# uses on this machine), SEPM_IMAGE_REBUILD_BASE=1 (make the debootstrap base again).
set -euo pipefail
cd "$(dirname "$0")/.."

MODE=${1:-auto}
VENV_BIN=${VENV_BIN:-.venv/bin}
IMAGE=${SEPM_IMAGE:-localhost/sepm-reconciler:ci}
BASE_IMAGE=docker.io/library/debian:bookworm-slim   # what `FROM debian:bookworm-slim` resolves to
RELEASE=bookworm
ENGINE=podman
RUN_OPTIONS=()
SECONDS=0

say() { printf '==> [%4ss] %s\n' "$SECONDS" "$*"; }
die() { printf 'image.sh: %s\n' "$*" >&2; exit 1; }

fast_checks() {
  say "hadolint Dockerfile"
  "$VENV_BIN/hadolint" Dockerfile
  say "PrometheusRule up to date with deploy/prometheus/alerts.yaml"
  "$VENV_BIN/python" scripts/prometheus_rule.py --check
  say "Kubernetes manifests (offline, strict)"
  "$VENV_BIN/python" scripts/check_manifests.py
  if command -v systemd-analyze >/dev/null; then
    say "systemd-analyze verify deploy/systemd/sepm-reconciler.service"
    verify_unit
  else
    say "SKIPPED systemd-analyze verify: systemd-analyze is not installed"
  fi
}

# systemd-analyze checks that ExecStart exists: verify a copy whose ExecStart names a stand-in executable
# (everything else unchanged), so the check runs where the package is not installed under /opt. systemd
# only warns about a bad value (and exits 0), so any line naming the unit is a failure.
verify_unit() {
  local dir unit out status=0
  dir=$(mktemp -d)
  unit=deploy/systemd/sepm-reconciler.service
  printf '#!/bin/sh\n' > "$dir/sepm-reconciler"
  chmod 0755 "$dir/sepm-reconciler"
  sed "s#^ExecStart=/opt/sepm-reconciler/bin/sepm-reconciler #ExecStart=$dir/sepm-reconciler #" "$unit" \
    > "$dir/sepm-reconciler.service"
  out=$(systemd-analyze verify "$dir/sepm-reconciler.service" 2>&1) || status=$?
  rm -rf "$dir"
  if [ "$status" -ne 0 ] || grep -q 'sepm-reconciler' <<<"$out"; then
    printf '%s\n' "$out"
    die "systemd-analyze verify found problems in $unit"
  fi
}

why_no_full() {
  [ "${SEPM_IMAGE_BUILD:-}" = skip ] && { echo "SEPM_IMAGE_BUILD=skip"; return; }
  command -v "$ENGINE" >/dev/null || { echo "$ENGINE is not installed (Debian package podman)"; return; }
  command -v debootstrap >/dev/null || { echo "debootstrap is not installed (Debian package debootstrap)"; return; }
  [ "$(id -u)" = 0 ] || { echo "debootstrap and a rootful $ENGINE need root"; return; }
  echo ""
}

debian_mirror() {
  if [ -n "${DEBIAN_MIRROR:-}" ]; then echo "$DEBIAN_MIRROR"; return; fi
  # The mirror apt already uses here (a proxy or a local mirror included), else debootstrap's default.
  apt-get indextargets --format '$(REPO_URI)|$(RELEASE)|$(TARGET_OF)' 2>/dev/null \
    | awk -F'|' -v r="$RELEASE" '$2 == r && $3 == "deb" { print $1; exit }'
}

# A stand-in for Debian's slim image: debootstrap's minbase with the same trimming (no documentation,
# manual pages or translations, apt's caches cleaned after each install).
make_base() {
  if "$ENGINE" image exists "$BASE_IMAGE" && [ -z "${SEPM_IMAGE_REBUILD_BASE:-}" ]; then
    say "base $BASE_IMAGE is present: reusing it ($("$ENGINE" image inspect --format '{{.Created}}' "$BASE_IMAGE"))"
    return
  fi
  local root mirror
  root=$(mktemp -d /var/tmp/sepm-base.XXXXXX)
  mirror=$(debian_mirror)
  say "debootstrap --variant=minbase $RELEASE ${mirror:-(the default mirror of debootstrap)}"
  debootstrap --variant=minbase "$RELEASE" "$root" ${mirror:+"$mirror"} > "$root.log" 2>&1 \
    || { tail -20 "$root.log"; die "debootstrap failed (log above)"; }
  cat > "$root/etc/dpkg/dpkg.cfg.d/docker-slim" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
EOF
  cat > "$root/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
  find "$root/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
  find "$root/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} +
  rm -rf "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/var/cache/apt/archives/*.deb \
    "$root"/var/cache/apt/*.bin "$root"/var/lib/apt/lists/* "$root"/var/log/* "$root"/tmp/*
  tar -C "$root" --numeric-owner -c . | "$ENGINE" import --quiet \
    --change 'CMD ["bash"]' \
    --change 'LABEL org.opencontainers.image.description="Debian bookworm minbase from debootstrap, trimmed like debian:bookworm-slim"' \
    - "$BASE_IMAGE" > /dev/null
  rm -rf "$root" "$root.log"
  say "base tagged $BASE_IMAGE ($("$ENGINE" image inspect --format '{{.Size}}' "$BASE_IMAGE" | numfmt --to=iec) bytes)"
}

# The options `run` needs on this host: plain first; then runc with explicit limits, for hosts where crun
# refuses hybrid cgroups and a missing CAP_SYS_RESOURCE refuses podman's default ulimits.
probe_run_options() {
  local candidate
  for candidate in "" "--runtime runc --ulimit nofile=4096:4096 --ulimit nproc=4096:4096"; do
    # shellcheck disable=SC2086
    if "$ENGINE" run --rm --network none $candidate "$IMAGE" --version >/dev/null 2>&1; then
      read -r -a RUN_OPTIONS <<<"$candidate"
      say "containers start here with: $ENGINE run ${candidate:-(no extra options)}"
      return 0
    fi
  done
  return 1
}

full() {
  make_base
  local previous
  previous=$("$ENGINE" image inspect --format '{{.Id}}' "$IMAGE" 2>/dev/null || true)
  say "$ENGINE build -t $IMAGE ."
  local build=("$ENGINE" build --pull=never --network host --format docker -t "$IMAGE")
  # buildah's chroot isolation needs no OCI runtime and works where nested cgroups do not.
  build+=(--isolation=chroot)
  # pip in the build stage trusts what this host trusts (a TLS-inspecting proxy's CA, say); never stored.
  [ -s /etc/ssl/certs/ca-certificates.crt ] && build+=(--secret id=ca-bundle,src=/etc/ssl/certs/ca-certificates.crt)
  "${build[@]}" . > /var/tmp/sepm-image-build.log 2>&1 \
    || { tail -30 /var/tmp/sepm-image-build.log; die "image build failed (log: /var/tmp/sepm-image-build.log)"; }
  # The image this build replaced, now untagged: removed, so that CI runs on a kept machine do not pile up.
  if [ -n "$previous" ] && [ "$previous" != "$("$ENGINE" image inspect --format '{{.Id}}' "$IMAGE")" ]; then
    "$ENGINE" rmi "$previous" >/dev/null 2>&1 || true
  fi
  say "image $IMAGE: $("$ENGINE" image inspect --format '{{.Size}}' "$IMAGE" | numfmt --to=iec) bytes, user $("$ENGINE" image inspect --format '{{.Config.User}}' "$IMAGE")"
  probe_run_options || die "the image is built, but no container starts on this host ($ENGINE run failed with and without runc)"

  say "demo inside the image (no network)"
  local demo status=0
  demo=$("$ENGINE" run --rm --network none "${RUN_OPTIONS[@]}" "$IMAGE" demo 2>&1) || status=$?
  sed -n '/^Report/,$p' <<<"$demo" | grep -v healthcheck
  [ "$status" -eq 0 ] || { printf '%s\n' "$demo" | tail -30; die "demo in the image exited $status"; }
  grep -q '^  clients orphaned: *0$' <<<"$demo" || die "the demo's report does not say zero clients orphaned"
  grep -q '^Result: zero clients orphaned, originals restored.$' <<<"$demo" || die "the demo's report says it failed"

  say "the image as the controller, against a simulator on the host, for one rotation"
  local options=()
  for option in "${RUN_OPTIONS[@]}"; do options+=(--run-option="$option"); done
  "$VENV_BIN/python" scripts/image_e2e.py --image "$IMAGE" --engine "$ENGINE" "${options[@]}"
}

case "$MODE" in
  fast)
    fast_checks
    say "SKIPPED the image build and runs: fast mode asked for"
    ;;
  full)
    fast_checks
    reason=$(why_no_full)
    [ -z "$reason" ] || die "cannot build the image here: $reason"
    full
    ;;
  auto)
    fast_checks
    reason=$(why_no_full)
    if [ -n "$reason" ]; then
      say "SKIPPED the image build, the demo in the image and the image against the simulator: $reason"
    else
      full
    fi
    ;;
  *) die "usage: scripts/image.sh [auto|fast|full]" ;;
esac
say "image.sh $MODE: done in ${SECONDS}s"

#!/usr/bin/env bash
# Fresh-root check: does the README's set-up work on a brand-new Debian 12, and does the smoke tier pass there?
#
# Builds a minimal Debian 12 (bookworm) root with debootstrap, copies this checkout into it (the work tree:
# tracked and untracked-but-not-ignored files, so uncommitted changes are checked too; never .venv), runs
# the README's test command `bash scripts/test.sh -m smoke` inside it (chroot with /proc, /sys and /dev
# mounted) and exits with its status. Run it as root before any change to dependencies (docs/contributing.md).
#
# Environment:
#   RONDA_FRESH_ROOT_CACHE   cache directory (default /var/cache/ronda-fresh-root): the debootstrap tarball,
#                            downloaded .deb files and pip downloads, and the last run's root (run/) for
#                            inspection. Every run starts from a clean copy of the tarball.
#   RONDA_FRESH_ROOT_MIRROR  Debian mirror (default: the first Debian URI in this machine's apt sources)
#   RONDA_FRESH_ROOT_SOURCE  "worktree" (default) or "head" (git archive HEAD: only committed files)
#   RONDA_FRESH_ROOT_CMD     the command run inside the root (default: bash scripts/test.sh -m smoke)
#   RONDA_FRESH_ROOT_REBUILD 1: build the debootstrap tarball again
set -euo pipefail

# Everything is in main, read whole before it runs: editing this file during a run cannot break it.
main() {
  repo=$(cd "$(dirname "$0")/.." && pwd)
  cache=${RONDA_FRESH_ROOT_CACHE:-/var/cache/ronda-fresh-root}
  source_kind=${RONDA_FRESH_ROOT_SOURCE:-worktree}
  inner_cmd=${RONDA_FRESH_ROOT_CMD:-bash scripts/test.sh -m smoke}
  suite=bookworm
  tarball=$cache/$suite-minbase.tar
  root=$cache/run/root
  t_start=$(date +%s)

  say() { printf '== [fresh-root %4ds] %s\n' "$(($(date +%s) - t_start))" "$*"; }
  die() { echo "fresh-root: error: $*" >&2; exit 2; }

  [[ $(id -u) == 0 ]] || die "run as root (debootstrap, chroot and mounts need it)"
  [[ $source_kind == worktree || $source_kind == head ]] || die "RONDA_FRESH_ROOT_SOURCE must be worktree or head"

  # The mirror this machine's apt uses (deb822 .sources or one-line sources.list), else deb.debian.org.
  detect_mirror() {
    local uri
    uri=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list 2>/dev/null \
          | grep -v '^[[:space:]]*#' | grep -oE 'https?://[^[:space:]]+/debian/?([[:space:]]|$)' | head -n1 \
          | tr -d '[:space:]' || true)
    echo "${uri%/}"
  }
  mirror=${RONDA_FRESH_ROOT_MIRROR:-$(detect_mirror)}
  mirror=${mirror:-http://deb.debian.org/debian}
  security=${mirror%/debian}/debian-security

  mounted() { awk -v r="$root" '$2 == r || index($2, r "/") == 1 {print $2}' /proc/self/mounts; }

  cleanup() {
    local rc=$?
    set +e
    if [[ -d $root ]]; then
      # processes left inside the root (a simulator, Chromium...) would keep the mounts busy
      for p in /proc/[0-9]*; do
        [[ $(readlink "$p/root" 2>/dev/null) == "$root" ]] && kill -9 "${p#/proc/}" 2>/dev/null
      done
      sleep 0.5
      for m in $(mounted | sort -r); do umount -R "$m" 2>/dev/null || umount -R -l "$m" 2>/dev/null; done
      if [[ -n $(mounted) ]]; then
        echo "fresh-root: could not unmount: $(mounted | tr '\n' ' ')" >&2
      fi
    fi
    say "finished with exit code $rc after $(($(date +%s) - t_start)) s"
    exit "$rc"
  }
  trap cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM

  mkdir -p "$cache/run" "$cache/apt-archives/partial" "$cache/pip"

  # ---------------------------------------------------------------------------------------- base tarball
  if [[ ! -s $tarball || ${RONDA_FRESH_ROOT_REBUILD:-0} == 1 ]]; then
    if ! command -v debootstrap >/dev/null; then
      say "installing debootstrap"
      apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
    fi
    build=$cache/base.tmp
    rm -rf --one-file-system "$build"
    say "debootstrap --variant=minbase $suite from $mirror (once; cached in $tarball)"
    debootstrap --variant=minbase "$suite" "$build" "$mirror" >"$cache/debootstrap.log" 2>&1 \
      || { tail -n 30 "$cache/debootstrap.log" >&2; die "debootstrap failed (log: $cache/debootstrap.log)"; }
    # apt sources as a normal installation has them (Chromium, for one, is updated through security)
    cat >"$build/etc/apt/sources.list" <<EOF
deb $mirror $suite main
deb $mirror $suite-updates main
deb $security $suite-security main
EOF
    rm -rf "$build/var/cache/apt/archives/"*.deb "$build/var/lib/apt/lists/"*
    tar --numeric-owner -C "$build" -cf "$tarball.tmp" .
    mv "$tarball.tmp" "$tarball"
    rm -rf --one-file-system "$build"
  fi

  # ---------------------------------------------------------------------------------------- clean root
  [[ -z $(mounted) ]] || die "something is still mounted under $root: $(mounted | tr '\n' ' ')"
  if [[ -d $root ]]; then say "removing the last run's root"; fi
  rm -rf --one-file-system "$root"
  mkdir -p "$root"
  say "unpacking a clean root from $tarball"
  tar --numeric-owner -C "$root" -xf "$tarball"

  say "copying the repository ($source_kind) to /srv/ronda"
  mkdir -p "$root/srv/ronda"
  if [[ $source_kind == head ]]; then
    git -C "$repo" archive --format=tar HEAD | tar -C "$root/srv/ronda" -xf -
  else
    (cd "$repo" && git ls-files -z -co --exclude-standard --deduplicate \
       | tar --null --ignore-failed-read -T - -cf - 2>/dev/null) | tar -C "$root/srv/ronda" -xf -
  fi
  [[ -f $root/srv/ronda/scripts/setup.sh ]] || die "the repository copy has no scripts/setup.sh"

  # What this machine needs to reach the network, not what Ronda needs: DNS, the pip index configuration and
  # local CA certificates (an egress proxy's). A fresh machine elsewhere has its own.
  cp -L /etc/resolv.conf "$root/etc/resolv.conf"
  cp -L /etc/hosts "$root/etc/hosts" 2>/dev/null || true
  # pip: the index, certificate and proxy settings; not this machine's local wheel directories (find-links or
  # file:// indexes), which the root does not have
  local_path='^[[:space:]]*(find-links|find_links|extra-index-url|extra_index_url|index-url|index_url)[[:space:]]*=[[:space:]]*(file:|/)'
  for f in /etc/pip.conf /root/.config/pip/pip.conf /root/.pip/pip.conf; do
    if [[ -f $f ]]; then mkdir -p "$root$(dirname "$f")"; grep -vE "$local_path" "$f" >"$root$f" || true; fi
  done
  [[ -d /etc/xdg/pip ]] && { mkdir -p "$root/etc/xdg"; cp -rL /etc/xdg/pip "$root/etc/xdg/"; }
  if compgen -G "/usr/local/share/ca-certificates/*" >/dev/null; then
    mkdir -p "$root/usr/local/share/ca-certificates" "$root/etc/ssl/certs"
    cp -rL /usr/local/share/ca-certificates/. "$root/usr/local/share/ca-certificates/"
    # until the ca-certificates package is installed (which rebuilds the bundle, local ones included)
    cp -L /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
  fi
  # a chroot has no init system: packages must not try to start services (the tests start their own)
  printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
  chmod 755 "$root/usr/sbin/policy-rc.d"

  # ---------------------------------------------------------------------------------------- mounts
  mount -t proc proc "$root/proc"
  mount --rbind /sys "$root/sys" && mount --make-rslave "$root/sys"
  mount --rbind /dev "$root/dev" && mount --make-rslave "$root/dev"
  # download caches only (every package is still installed from scratch)
  mount --bind "$cache/apt-archives" "$root/var/cache/apt/archives"
  mkdir -p "$root/root/.cache/pip"
  mount --bind "$cache/pip" "$root/root/.cache/pip"

  # ---------------------------------------------------------------------------------------- run
  env_args=(HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 TERM=dumb)
  while IFS='=' read -r name value; do
    [[ $name == PIP_* && $value != /* && $value != file:* ]] && env_args+=("$name=$value")
  done < <(env)
  say "running in the root: cd /srv/ronda && $inner_cmd"
  # in the background and waited for, so that a signal reaches the traps at once (the clean-up then ends
  # what runs inside the root); bash would otherwise wait for the command to finish first
  set +e
  chroot "$root" /usr/bin/env -i "${env_args[@]}" /bin/bash -c "cd /srv/ronda && $inner_cmd" </dev/null &
  wait $!
  rc=$?
  set -e
  if [[ $rc == 0 ]]; then
    say "PASSED: set-up and '$inner_cmd' on a fresh Debian 12 root"
  else
    say "FAILED (exit $rc): '$inner_cmd' in $root"
  fi
  exit "$rc"
}

main "$@"
exit

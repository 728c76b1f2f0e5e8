#!/usr/bin/env bash
# What the course hub needs on this machine, installed as root; safe to run again (it only
# does what is missing or out of date).
#
#   bash hub/install.sh            bubblewrap, Node.js, the proxy, the course's Python
#   bash hub/install.sh --browser  the same, and Chromium for the end-to-end test (grader_tests/hub)
#
# - bubblewrap: the grading sandbox (the grader account uses unprivileged user namespaces).
# - The proxy: configurable-http-proxy from npm, at the version pinned in
#   hub/proxy/package-lock.json, installed into hub/proxy/node_modules (not system-wide).
# - The course's Python ($CNNKIT_HUB_ENV, default /opt/cnnkit-hub/venv): a virtualenv every
#   account can read, with requirements.lock (what students get), requirements-kit.lock (the
#   grader, jupyterhub) and cnnkit. Its base interpreter is $CNNKIT_HUB_BASE_PYTHON (default
#   python3). When other accounts cannot run that one (pyenv keeps it under /root, mode
#   0700), its standard library is copied to /opt/cnnkit-hub/python first.
# - ngshare's own Python (beside it, ngshare-venv/): requirements-ngshare.lock.
set -euo pipefail
cd "$(dirname "$0")"
KIT=$(cd .. && pwd)

browser=no
[ "${1:-}" = --browser ] && browser=yes

if [ "$(id -u)" != 0 ]; then
  echo "hub/install.sh: run as root (it installs Debian packages and a Python for every account)" >&2
  exit 1
fi

# ---- Debian packages
packages=()
command -v bwrap >/dev/null || packages+=(bubblewrap)
command -v node >/dev/null || packages+=(nodejs)
command -v npm >/dev/null || packages+=(npm)
command -v patchelf >/dev/null || packages+=(patchelf)
[ "$browser" = yes ] && ! command -v chromium >/dev/null && packages+=(chromium)
if [ ${#packages[@]} -gt 0 ]; then
  echo "==> installing ${packages[*]} (apt-get)" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq "${packages[@]}" >/dev/null 2>&1 \
    || { apt-get update -qq >/dev/null && apt-get install -y -qq "${packages[@]}" >/dev/null; }
fi

# ---- the proxy
proxy=proxy/node_modules/.bin/configurable-http-proxy
want=$(sed -n 's/.*"configurable-http-proxy": "\(.*\)".*/\1/p' proxy/package.json)
if [ ! -x "$proxy" ] || [ "$("$proxy" --version 2>/dev/null)" != "$want" ]; then
  echo "==> installing configurable-http-proxy $want (npm ci, hub/proxy)" >&2
  (cd proxy && npm ci --omit=dev --no-audit --no-fund --loglevel=error >/dev/null)
fi

# ---- the course's Python, readable by every account
env_dir=${CNNKIT_HUB_ENV:-/opt/cnnkit-hub/venv}
base=$(command -v "${CNNKIT_HUB_BASE_PYTHON:-python3}")
# the interpreter itself: through pyenv's shim or a virtualenv's symlink, if any
base=$(realpath "$("$base" -c 'import sys; print(sys.executable)')")
if ! runuser -u nobody -- "$base" -c 'import encodings' >/dev/null 2>&1; then
  prefix=$("$base" -c 'import sys; print(sys.base_prefix)')
  version=$("$base" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
  copy=/opt/cnnkit-hub/python
  if [ "$(cat "$copy/.from" 2>/dev/null)" != "$base $("$base" -V)" ]; then
    echo "==> copying Python $version from $prefix to $copy (other accounts cannot read it there)" >&2
    rm -rf "$copy" && mkdir -p "$copy/bin" "$copy/lib" "$copy/include"
    cp -a "$prefix/bin/python$version" "$copy/bin/"
    cp -a "$prefix"/lib/libpython3*.so* "$copy/lib/" 2>/dev/null || true
    cp -a "$prefix/include/." "$copy/include/"
    (cd "$prefix/lib" && tar cf - --exclude="python$version/site-packages" \
       --exclude="python$version/test" --exclude=__pycache__ "python$version") | (cd "$copy/lib" && tar xf -)
    mkdir -p "$copy/lib/python$version/site-packages"
    # the interpreter looked for libpython under $prefix; look beside it instead
    patchelf --set-rpath '$ORIGIN/../lib' "$copy/bin/python$version"
    chmod -R a+rX "$copy"
    echo "$base $("$base" -V)" > "$copy/.from"
  fi
  base=$copy/bin/python$version
fi

stamp=$( (echo "$base"; cat "$KIT/requirements.lock" "$KIT/requirements-kit.lock" "$KIT/requirements-nodeps.lock" "$KIT/pyproject.toml" \
          $(find "$KIT/cnnkit" "$KIT/cnnkit_grader" -name '*.py' -o -name '*.json' | LC_ALL=C sort)) | sha256sum | cut -d' ' -f1)
if [ "$(cat "$env_dir/.cnnkit-stamp" 2>/dev/null)" != "$stamp" ]; then
  echo "==> installing the course's Python environment into $env_dir (a few minutes)" >&2
  rm -rf "$env_dir"
  "$base" -m venv "$env_dir"
  "$env_dir/bin/python" -m pip install --quiet --upgrade pip
  "$env_dir/bin/python" -m pip install --quiet -r "$KIT/requirements.lock" -r "$KIT/requirements-kit.lock"
  "$env_dir/bin/python" -m pip install --quiet --no-deps -r "$KIT/requirements-nodeps.lock"
  # the packages students' images get (cnnkit, cnnkit_grader), built from a copy so the clone stays clean
  build=$(mktemp -d)
  cp -a "$KIT/pyproject.toml" "$KIT/cnnkit" "$KIT/cnnkit_grader" "$build/"
  "$env_dir/bin/python" -m pip install --quiet --no-deps "$build"
  rm -rf "$build"
  chmod -R a+rX "$env_dir"
  echo "$stamp" > "$env_dir/.cnnkit-stamp"
fi
if ! runuser -u nobody -- "$env_dir/bin/python" -c 'import cnnkit, cnnkit_grader, nbgrader, jupyterhub' >/dev/null 2>&1; then
  echo "hub/install.sh: $env_dir does not work for other accounts" >&2
  exit 1
fi

# ---- ngshare (CNNKIT_HUB_EXCHANGE=ngshare), in an environment of its own: it needs SQLAlchemy 1.4
ngshare_dir=$(dirname "$env_dir")/ngshare-venv
stamp=$( (echo "$base"; cat "$KIT/requirements-ngshare.lock") | sha256sum | cut -d' ' -f1)
if [ "$(cat "$ngshare_dir/.cnnkit-stamp" 2>/dev/null)" != "$stamp" ]; then
  echo "==> installing ngshare's Python environment into $ngshare_dir" >&2
  rm -rf "$ngshare_dir"
  "$base" -m venv "$ngshare_dir"
  "$ngshare_dir/bin/python" -m pip install --quiet --upgrade pip
  "$ngshare_dir/bin/python" -m pip install --quiet -r "$KIT/requirements-ngshare.lock"
  chmod -R a+rX "$ngshare_dir"
  echo "$stamp" > "$ngshare_dir/.cnnkit-stamp"
fi

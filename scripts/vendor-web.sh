#!/usr/bin/env bash
# Vendors the web client's third-party libraries from the npm registry into src/ronda/web/static/vendor/
# (committed: `pip install .` from a plain checkout serves them; tests/web/test_vendor.py checks the
# copy matches the versions pinned here). Run again after changing a version. Needs npm.
#   scripts/vendor-web.sh            install into .venv/tools and copy
#   TOOLS=/path scripts/vendor-web.sh  another npm prefix
set -euo pipefail
cd "$(dirname "$0")/.."

LEAFLET_VERSION=1.9.4  # the geographic base map of #/map (docs/map.md)
TOOLS=${TOOLS:-.venv/tools}
DEST=src/ronda/web/static/vendor/leaflet

if [[ "$(node -p "require('./$TOOLS/node_modules/leaflet/package.json').version" 2>/dev/null)" != "$LEAFLET_VERSION" ]]; then
  echo "== installing leaflet $LEAFLET_VERSION into $TOOLS"
  npm install --prefix "$TOOLS" --no-audit --no-fund --silent "leaflet@$LEAFLET_VERSION"
fi
src="$TOOLS/node_modules/leaflet"
mkdir -p "$DEST"
# The ES module build (the client is plain ES modules, no bundler), its stylesheet and licence. Markers
# are Ronda's own (L.divIcon), so none of Leaflet's marker images are needed.
cp "$src/dist/leaflet-src.esm.js" "$src/dist/leaflet.css" "$DEST/"
cp "$src/LICENSE" "$DEST/LICENSE"
echo "$LEAFLET_VERSION" > "$DEST/VERSION"
echo "== vendored leaflet $LEAFLET_VERSION into $DEST"

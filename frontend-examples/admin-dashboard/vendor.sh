#!/usr/bin/env bash
# Vendors the dashboard's third-party browser library as its published build,
# with its licence, into vendor/. Run it only to change the pinned version;
# the result is committed, so serving the page needs no npm step.
#
#   frontend-examples/admin-dashboard/vendor.sh            # the pinned version
#   GRAPHQL_WS_VERSION=6.4.2 frontend-examples/admin-dashboard/vendor.sh
#
# Needs npm (the package comes through `npm pack`, i.e. the npm registry).
set -euo pipefail

GRAPHQL_WS_VERSION="${GRAPHQL_WS_VERSION:-6.4.2}"

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
dest="$here/vendor/graphql-ws"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

echo "fetching graphql-ws@$GRAPHQL_WS_VERSION with npm pack" >&2
tarball="$(cd "$work" && npm pack --silent "graphql-ws@$GRAPHQL_WS_VERSION")"
tar -xzf "$work/$tarball" -C "$work"
pkg="$work/package"

# The package's own UMD build (exposes `globalThis.graphqlWs`), unmodified.
for f in umd/graphql-ws.min.js LICENSE.md package.json; do
  if [ ! -f "$pkg/$f" ]; then
    echo "graphql-ws@$GRAPHQL_WS_VERSION has no $f; pick another version" >&2
    exit 1
  fi
done

rm -rf "$dest"
mkdir -p "$dest"
cp "$pkg/umd/graphql-ws.min.js" "$dest/graphql-ws.min.js"
cp "$pkg/LICENSE.md" "$dest/LICENSE.md"

version="$(node -e 'process.stdout.write(require(process.argv[1]).version)' "$pkg/package.json" 2>/dev/null || echo "$GRAPHQL_WS_VERSION")"
{
  echo "graphql-ws $version"
  echo "source: npm package graphql-ws@$version, file umd/graphql-ws.min.js (unmodified)"
  echo "licence: MIT (LICENSE.md beside this file)"
  echo "sha256:"
  (cd "$dest" && sha256sum graphql-ws.min.js LICENSE.md)
} > "$dest/VERSION.txt"

echo "vendored graphql-ws $version into ${dest#"$here"/}" >&2

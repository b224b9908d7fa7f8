#!/bin/sh
# Writes a tiny container image into DIR (default ./hello-image) as an OCI image layout:
# one layer holding hello.txt, tagged "latest". Push it with skopeo, for example:
#
#   sh scripts/hello-image.sh data/hello
#   skopeo copy oci:data/hello:latest docker://127.0.0.1:5050/team/hello:v1
#
# An OCI layout is a directory of files named by their sha256: a layer (a gzipped tar), a
# config naming the layer's uncompressed digest, a manifest naming both, and index.json
# naming the manifest. Needs only tar, gzip and sha256sum.
set -eu
dir=${1:-hello-image}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$dir/blobs/sha256"

# blob FILE: store FILE in the layout under its digest; print its "digest" and "size" fields.
blob() {
  digest=$(sha256sum "$1" | cut -d' ' -f1)
  cp "$1" "$dir/blobs/sha256/$digest"
  printf '"digest": "sha256:%s", "size": %s' "$digest" "$(wc -c < "$1" | tr -d ' ')"
}

case $(uname -m) in aarch64 | arm64) arch=arm64 ;; *) arch=amd64 ;; esac
echo "hello from forgegate" > "$work/hello.txt"
tar -C "$work" -cf "$work/layer.tar" hello.txt
gzip -n -c "$work/layer.tar" > "$work/layer.tar.gz"
printf '{"architecture": "%s", "os": "linux", "config": {}, "rootfs": {"type": "layers", "diff_ids": ["sha256:%s"]}}' \
  "$arch" "$(sha256sum "$work/layer.tar" | cut -d' ' -f1)" > "$work/config.json"

printf '{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
 "config": {"mediaType": "application/vnd.oci.image.config.v1+json", %s},
 "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", %s}]}\n' \
  "$(blob "$work/config.json")" "$(blob "$work/layer.tar.gz")" > "$work/manifest.json"

printf '{"imageLayoutVersion": "1.0.0"}\n' > "$dir/oci-layout"
printf '{"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", %s,
 "annotations": {"org.opencontainers.image.ref.name": "latest"}}]}\n' \
  "$(blob "$work/manifest.json")" > "$dir/index.json"
echo "$dir: an OCI image layout (one layer, hello.txt), tag latest"

#!/bin/bash
# The ~730 MB, three-layer input for the pack/convert memory figure (bench/README.md,
# "pack_bench"): a debootstrap tree with large packages, cached under /tmp/singlet-bench,
# split into three gzip layers (usr/lib; the rest of usr; everything else) in an OCI layout
# at /tmp/singlet-bench/big-oci (tag "latest"). Then, for instance:
#   SINGLET_CACHEDIR=$(mktemp -d) /usr/bin/time -f '%e s %M KiB' \
#     bin/singlet -q pull /tmp/big.sif oci:/tmp/singlet-bench/big-oci:latest
# debootstrap fails to configure gdb (a dependency it does not resolve); the files are all
# unpacked, which is what the benchmark needs. Documentation and locales are dropped to
# bring the tree to ~727 MB.
set -euo pipefail
CACHE=/tmp/singlet-bench
T=$CACHE/debian-big
O=$CACHE/big-oci
W=$CACHE/big-oci.work
MIRROR=${MIRROR:-http://deb.debian.org/debian}
if [[ ! -d $T/usr/bin ]]; then
  rm -rf "$T.tmp"
  debootstrap --variant=minbase \
    --include=build-essential,python3-dev,git,vim,gdb,libllvm14,cmake,libicu72 \
    bookworm "$T.tmp" "$MIRROR" > "$CACHE/debootstrap-big.log" 2>&1 || true
  [[ -d $T.tmp/usr/bin ]] || { echo "debootstrap failed: see $CACHE/debootstrap-big.log" >&2; exit 1; }
  rm -rf "$T.tmp"/var/cache/apt/archives/* "$T.tmp"/var/lib/apt/lists/* "$T.tmp"/dev/* \
    "$T.tmp"/proc/* "$T.tmp"/sys/* "$T.tmp"/usr/share/locale "$T.tmp"/usr/share/doc
  mv "$T.tmp" "$T"
fi
rm -rf "$O" "$W"
mkdir -p "$O/blobs/sha256" "$W"
cd "$T"
tar --numeric-owner --sort=name -cf "$W/l1.tar" ./usr/lib &
tar --numeric-owner --sort=name --exclude=./usr/lib -cf "$W/l2.tar" ./usr &
tar --numeric-owner --sort=name --exclude=./usr -cf "$W/l3.tar" . &
wait
for i in 1 2 3; do gzip -1 -n -c "$W/l$i.tar" > "$W/l$i.tar.gz" & done
wait
layers=""
diffs=""
for i in 1 2 3; do
  d=$(sha256sum "$W/l$i.tar" | cut -d' ' -f1)
  g=$(sha256sum "$W/l$i.tar.gz" | cut -d' ' -f1)
  s=$(stat -c %s "$W/l$i.tar.gz")
  mv "$W/l$i.tar.gz" "$O/blobs/sha256/$g"
  layers="$layers${layers:+,}{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"sha256:$g\",\"size\":$s}"
  diffs="$diffs${diffs:+,}\"sha256:$d\""
done
printf '{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":["bash"]},"rootfs":{"type":"layers","diff_ids":[%s]}}' \
  "$diffs" > "$W/config.json"
c=$(sha256sum "$W/config.json" | cut -d' ' -f1)
cs=$(stat -c %s "$W/config.json")
mv "$W/config.json" "$O/blobs/sha256/$c"
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[%s]}' \
  "$c" "$cs" "$layers" > "$W/manifest.json"
m=$(sha256sum "$W/manifest.json" | cut -d' ' -f1)
ms=$(stat -c %s "$W/manifest.json")
mv "$W/manifest.json" "$O/blobs/sha256/$m"
printf '{"imageLayoutVersion":"1.0.0"}' > "$O/oci-layout"
printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"latest"}}]}' \
  "$m" "$ms" > "$O/index.json"
rm -rf "$W"
echo "$O (tag latest): $(du -s --apparent-size -B1M "$T" | cut -f1) MB tree, $(find "$T" | wc -l) entries"

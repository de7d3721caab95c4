#!/usr/bin/env bash
# Build a source tree with every SquashFS entry type for the reader tests (run as root).
# Usage: make_tree.sh DIR   (DIR must not exist)
set -euo pipefail
root=$1
mkdir "$root"
cd "$root"
# Deterministic pseudo-random bytes.
prng() { (set +o pipefail; openssl enc -aes-128-ctr -nosalt -pass "pass:$1" -pbkdf2 </dev/zero 2>/dev/null | head -c "$2"); }
mkdir -p files deep links special xattrs names many modes
: >files/empty
printf 'hello\n' >files/small
prng one 131072 >files/one-block
prng many $((3 * 131072 + 12345)) >files/many-blocks
prng many $((3 * 131072 + 12345)) >files/duplicate
head -c 131072 /dev/zero >files/zero-block
truncate -s 5M files/sparse
prng sparse 70000 | dd of=files/sparse bs=1 seek=2000000 conv=notrunc status=none
for i in 1 2 3 4 5; do prng "tail$i" $((i * 1000 + 7)) >"files/tail$i"; done
d=deep
for i in $(seq 1 40); do d="$d/level$i"; done
mkdir -p "$d"
printf 'bottom\n' >"$d/file"
ln -s ../files/small links/relative
ln -s /etc/passwd links/absolute
ln -s does/not/exist links/dangling
ln -s "$(printf 'x%.0s' $(seq 1 300))" links/long-target
ln files/small links/hard1
ln files/small links/hard2
mknod special/char c 1 3
mknod special/block b 7 200
mknod special/bigdev c 300 70000
mkfifo special/fifo
printf 'x\n' >xattrs/file
setfattr -n user.plain -v value xattrs/file
setfattr -n user.shared -v "$(printf 'v%.0s' $(seq 1 3000))" xattrs/file
setfattr -n trusted.secret -v 0x00ff10 xattrs/file
setfattr -n security.label -v lbl xattrs/file
mkdir xattrs/dir
setfattr -n user.shared -v "$(printf 'v%.0s' $(seq 1 3000))" xattrs/dir
setfattr -n user.empty xattrs/dir
ln -s file xattrs/link
printf 'l\n' >"names/$(printf 'n%.0s' $(seq 1 255))"
printf 'u\n' >"names/ütf-8 ✓"
printf 's\n' >"names/with space"
printf 'b\n' >"names/$(printf 'bad\xff\xfe')"
mkdir "names/$(printf 'dir\xff')"
printf 'c\n' >"names/$(printf 'dir\xff')/child"
for i in $(seq 1 300); do printf '%s\n' "$i" >"many/f$i"; done
printf 'suid\n' >modes/setuid && chmod 4755 modes/setuid
printf 'sgid\n' >modes/setgid && chmod 2711 modes/setgid
mkdir modes/sticky && chmod 1777 modes/sticky
printf 'o\n' >modes/owned && chown 1234:5678 modes/owned
printf 'r\n' >modes/readonly && chmod 0400 modes/readonly
mkdir modes/private && chmod 0700 modes/private && printf 'p\n' >modes/private/inner
chown -h 4321:8765 links/relative
find . -exec touch -h -d '2021-03-04 05:06:07 UTC' {} +
touch -h -d '2001-02-03 04:05:06 UTC' files/small modes/sticky links/dangling

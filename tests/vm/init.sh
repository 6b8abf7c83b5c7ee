#!/bin/busybox sh
# /init of the kernel-test VM: mounts what the data path's tests expect, runs
# `skewless-agent kernel-check --json` and each real-kernel test binary, and writes
# their results between markers to the second serial port (the first is the console).
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp
mkdir -p /run
mount -t tmpfs run /run
mkdir -p /sys/fs/cgroup /sys/fs/bpf
mount -t cgroup2 cgroup2 /sys/fs/cgroup
mount -t bpf bpf /sys/fs/bpf
mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null
ip link set lo up
# As on a build machine: the balance test holds a thousand connections.
ulimit -n 65536
out=/dev/ttyS1

section() {  # NAME COMMAND...: runs COMMAND, its stdout into the section
  name=$1
  shift
  echo "SKW-BEGIN $name" > $out
  "$@" > /tmp/section.out 2> /tmp/section.err
  rc=$?
  cat /tmp/section.out > $out
  echo "SKW-END $name $rc" > $out
  if [ $rc -ne 0 ]; then
    echo "SKW-BEGIN stderr:$name" > $out
    tail -n 60 /tmp/section.err > $out
    echo "SKW-END stderr:$name 0" > $out
  fi
}

echo "SKW-BEGIN uname" > $out; uname -r > $out; echo "SKW-END uname 0" > $out
section kernel-check /skewless/bin/skewless-agent kernel-check --json
for test in $(cat /skewless/tests); do
  section "test:$test" sh -c "/skewless/bin/$test --gtest_output=json:/tmp/$test.json \
    > /tmp/$test.log 2>&1; rc=\$?; cat /tmp/$test.json 2>/dev/null; \
    [ \$rc -eq 0 ] || tail -n 60 /tmp/$test.log >&2; exit \$rc"
done
echo "SKW-DONE" > $out
poweroff -f

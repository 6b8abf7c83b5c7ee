#!/usr/bin/python3
"""make kernel-test: the BPF data path's real-kernel tests on every kernel of a matrix.

Each kernel of tests/vm/kernels.txt boots in qemu (KVM when a guest boots under it, else
TCG emulation, said in the report) with an initramfs made here: Debian's busybox-static,
`skewless-agent` and the real-kernel test binaries with the shared libraries they link.
Inside, `skewless-agent kernel-check --json` reports the BPF features and which programs
the verifier accepts, then every test binary runs. The results come back on the VM's
second serial port and make one table per kernel (build/kernel-test/results.md).

Exit: 0 every kernel booted and passed every test; 1 a test failed, a program was
rejected or a kernel did not boot; 2 bad arguments or a missing tool.
"""
import argparse
import gzip
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
# The real-kernel suite (tests/kernel): load, verify, attach, steer, count, reverse-translate.
TESTS = ["connect_observer_test", "steer_connect_test", "steer_balance_test",
         "steer_lifecycle_test", "pinned_steering_test", "steer_splice_test"]
TOOLS = ["skewless-agent"]
KVM_SMOKE_SECONDS = 45
VM_SECONDS = 1800


def say(message):
    print(f"kernel-test: {message}", file=sys.stderr, flush=True)


class Failure(Exception):
    """A problem that stops the whole run (exit 2)."""


def run(argv, **kwargs):
    return subprocess.run(argv, check=True, capture_output=True, text=True, **kwargs)


def parse_matrix(path):
    kernels = []
    with open(path) as f:
        for number, line in enumerate(f, 1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            fields = line.split(None, 2)
            if len(fields) < 2:
                raise Failure(f"{path}:{number}: expected NAME SOURCE [DESCRIPTION]")
            name, source = fields[0], fields[1]
            if source != "native" and not source.startswith(("deb:", "file:")):
                raise Failure(f"{path}:{number}: source {source!r} is not native, deb:PACKAGE "
                              "or file:PATH")
            kernels.append({"name": name, "source": source,
                            "description": fields[2] if len(fields) > 2 else ""})
    return kernels


# --- kernels -------------------------------------------------------------------------

def apt_options(suite, cache):
    """apt-get/apt-cache options for `suite` (e.g. bullseye) from deb.debian.org in a state
    directory of our own: the machine's sources and package lists are left alone. None:
    the machine's own sources."""
    if suite is None:
        return []
    state = os.path.join(cache, f"apt-{suite}")
    lists = os.path.join(state, "lists")
    options = ["-o", f"Dir::State::Lists={lists}",
               "-o", f"Dir::Etc::SourceList={state}/sources.list",
               "-o", "Dir::Etc::SourceParts=/dev/null",
               "-o", f"Dir::Cache::pkgcache={state}/pkgcache.bin",
               "-o", f"Dir::Cache::srcpkgcache={state}/srcpkgcache.bin"]
    if not os.path.isdir(lists):
        os.makedirs(os.path.join(lists, "partial"))
        with open(os.path.join(state, "sources.list"), "w") as f:
            f.write(f"deb http://deb.debian.org/debian {suite} main\n")
        say(f"reading Debian {suite}'s package list")
        try:
            run(["apt-get", *options, "update"])
        except subprocess.CalledProcessError:
            shutil.rmtree(state, ignore_errors=True)
            raise
    return options


def fetch_deb_kernel(spec, cache):
    """vmlinuz of a Debian kernel package, [SUITE/]PACKAGE (a metapackage resolves to the
    image it depends on), cached."""
    suite, package = spec.split("/", 1) if "/" in spec else (None, spec)
    apt = apt_options(suite, cache)
    image = package
    depends = run(["apt-cache", *apt, "depends", package]).stdout
    for line in depends.splitlines():
        m = re.match(r"\s*Depends:\s*(linux-image-\S+)", line)
        if m and not re.match(r"linux-image-\d", package):
            image = m.group(1)
            break
    version = run(["apt-cache", *apt, "policy", image]).stdout
    m = re.search(r"Candidate:\s*(\S+)", version)
    if not m or m.group(1) == "(none)":
        raise Failure(f"no Debian package {image}{' in ' + suite if suite else ''} "
                      "(apt-get update first?)")
    version = m.group(1)
    target = os.path.join(cache, f"{image}_{version}")
    vmlinuz_dir = os.path.join(target, "boot")
    if not os.path.isdir(vmlinuz_dir):
        say(f"fetching {image} {version}")
        os.makedirs(cache, exist_ok=True)
        work = tempfile.mkdtemp(dir=cache)
        try:
            run(["apt-get", *apt, "download", f"{image}={version}"], cwd=work)
            deb = next(f for f in os.listdir(work) if f.endswith(".deb"))
            # Only the kernel and its config: the modules (~400 MiB) are not needed, the
            # data path's features are built in.
            extract = os.path.join(work, "x")
            run(["dpkg-deb", "-x", os.path.join(work, deb), extract])
            os.makedirs(target, exist_ok=True)
            shutil.move(os.path.join(extract, "boot"), vmlinuz_dir)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    vmlinuz = next(os.path.join(vmlinuz_dir, f) for f in sorted(os.listdir(vmlinuz_dir))
                   if f.startswith("vmlinuz"))
    return vmlinuz, f"Debian {suite + ' ' if suite else ''}package {image} {version}"


# --- the initramfs -------------------------------------------------------------------

def shared_libraries(binary):
    out = run(["ldd", binary]).stdout
    libs = []
    for line in out.splitlines():
        m = re.search(r"=>\s*(/\S+)", line) or re.match(r"\s*(/\S+)", line)
        if m:
            libs.append(m.group(1))
    return libs


def build_initramfs(bin_dir, out_path, tests):
    """busybox-static, our binaries (debug info stripped) and their libraries, /init."""
    busybox = shutil.which("busybox")
    if not busybox or "static" not in run(["file", "-L", busybox]).stdout:
        raise Failure("busybox-static is not installed (make deps installs it)")
    root = tempfile.mkdtemp(prefix="skewless-initramfs-")
    try:
        for d in ("bin", "proc", "sys", "dev", "tmp", "skewless/bin", "etc"):
            os.makedirs(os.path.join(root, d), exist_ok=True)
        shutil.copy(busybox, os.path.join(root, "bin/busybox"))
        shutil.copy(os.path.join(HERE, "init.sh"), os.path.join(root, "init"))
        os.chmod(os.path.join(root, "init"), 0o755)
        libs = set()
        for name in TOOLS + tests:
            source = os.path.join(bin_dir, name)
            if not os.path.exists(source):
                raise Failure(f"{source} is missing (make kernel-test builds it)")
            target = os.path.join(root, "skewless/bin", name)
            run(["strip", "--strip-debug", "-o", target, source])
            libs.update(shared_libraries(source))
        for lib in libs:
            real = os.path.realpath(lib)
            target = os.path.join(root, lib.lstrip("/"))
            os.makedirs(os.path.dirname(target), exist_ok=True)
            shutil.copy(real, target)
        with open(os.path.join(root, "skewless/tests"), "w") as f:
            f.write("\n".join(tests) + "\n")
        cpio = subprocess.run("find . | cpio -o -H newc --quiet", shell=True, cwd=root,
                              check=True, capture_output=True).stdout
        with gzip.open(out_path, "wb", compresslevel=1) as f:
            f.write(cpio)
    finally:
        shutil.rmtree(root, ignore_errors=True)


# --- booting -------------------------------------------------------------------------

def qemu(vmlinuz, initramfs, accel, console, results, timeout):
    cpu = ["-accel", "kvm", "-cpu", "host"] if accel == "kvm" else ["-accel", "tcg", "-cpu", "max"]
    argv = ["qemu-system-x86_64", *cpu, "-m", "1024", "-smp", "2", "-display", "none",
            "-no-reboot", "-kernel", vmlinuz, "-initrd", initramfs,
            "-append", "console=ttyS0 panic=-1 quiet",
            "-serial", f"file:{console}", "-serial", f"file:{results}", "-monitor", "none"]
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        return proc.returncode, proc.stderr
    except subprocess.TimeoutExpired:
        return None, f"no power-off within {timeout} s"


def choose_accel(requested, vmlinuz, work):
    """KVM when /dev/kvm lets a guest boot (nested KVM can exist and still hang), else TCG."""
    if requested != "auto":
        return requested, ""
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return "tcg", "no usable /dev/kvm: emulated (TCG), slower but the same kernel code"
    smoke_dir = tempfile.mkdtemp(dir=work)
    try:
        os.makedirs(os.path.join(smoke_dir, "root/bin"))
        shutil.copy(shutil.which("busybox"), os.path.join(smoke_dir, "root/bin/busybox"))
        with open(os.path.join(smoke_dir, "root/init"), "w") as f:
            f.write("#!/bin/busybox sh\n/bin/busybox mount -t devtmpfs d /dev\n"
                    "/bin/busybox echo SKW-SMOKE > /dev/ttyS1\n/bin/busybox poweroff -f\n")
        os.chmod(os.path.join(smoke_dir, "root/init"), 0o755)
        cpio = subprocess.run("find . | cpio -o -H newc --quiet", shell=True,
                              cwd=os.path.join(smoke_dir, "root"), check=True,
                              capture_output=True).stdout
        initramfs = os.path.join(smoke_dir, "smoke.cpio.gz")
        with gzip.open(initramfs, "wb", compresslevel=1) as f:
            f.write(cpio)
        results = os.path.join(smoke_dir, "results")
        code, err = qemu(vmlinuz, initramfs, "kvm", os.path.join(smoke_dir, "console"), results,
                         KVM_SMOKE_SECONDS)
        if code == 0 and os.path.exists(results) and "SKW-SMOKE" in open(results).read():
            return "kvm", ""
        reason = err.strip().splitlines()[-1] if err.strip() else "no output"
        return "tcg", (f"/dev/kvm is present but a guest did not boot under it ({reason}): "
                       "emulated (TCG) instead, slower but the same kernel code")
    finally:
        shutil.rmtree(smoke_dir, ignore_errors=True)


def parse_sections(text):
    """SKW-BEGIN name / ... / SKW-END name rc → {name: (rc, body)}."""
    sections, current, body = {}, None, []
    for line in text.splitlines():
        if line.startswith("SKW-BEGIN "):
            current, body = line[len("SKW-BEGIN "):].strip(), []
        elif line.startswith("SKW-END ") and current is not None:
            rc = line.rsplit(" ", 1)[-1]
            sections[current] = (int(rc) if rc.lstrip("-").isdigit() else None, "\n".join(body))
            current = None
        elif current is not None:
            body.append(line)
    return sections, "SKW-DONE" in text


# --- results -------------------------------------------------------------------------

def gtest_summary(rc, body, stderr):
    try:
        report = json.loads(body)
    except ValueError:
        return {"ran": False, "rc": rc, "passed": 0, "failed": [], "skipped": [],
                "log": stderr}
    passed, failed, skipped = 0, [], []
    for suite in report.get("testsuites", []):
        for case in suite.get("testsuite", []):
            name = f"{suite['name']}.{case['name']}"
            if case.get("failures"):
                failed.append(name)
            elif case.get("result") == "SKIPPED":
                skipped.append(name)
            else:
                passed += 1
    return {"ran": True, "rc": rc, "passed": passed, "failed": failed, "skipped": skipped,
            "log": stderr if failed or rc else ""}


def collect(kernel, sections, done):
    result = {"kernel": kernel, "release": sections.get("uname", (0, ""))[1].strip(),
              "completed": done, "tests": {}}
    rc, body = sections.get("kernel-check", (None, ""))
    try:
        result["kernel_check"] = json.loads(body)
    except ValueError:
        result["kernel_check"] = None
        result["kernel_check_error"] = sections.get("stderr:kernel-check", (0, body))[1]
    for test in TESTS:
        if f"test:{test}" in sections:
            rc, body = sections[f"test:{test}"]
            stderr = sections.get(f"stderr:test:{test}", (0, ""))[1]
            result["tests"][test] = gtest_summary(rc, body, stderr)
    return result


def run_native(kernel, bin_dir):
    sections = {"uname": (0, os.uname().release)}
    for name, argv in [("kernel-check", [os.path.join(bin_dir, "skewless-agent"),
                                         "kernel-check", "--json"])] + \
            [(f"test:{t}", None) for t in TESTS]:
        if argv is None:
            test = name.split(":", 1)[1]
            say(f"{kernel['name']}: {test}")
            with tempfile.NamedTemporaryFile(suffix=".json") as out:
                proc = subprocess.run([os.path.join(bin_dir, test),
                                       f"--gtest_output=json:{out.name}"],
                                      capture_output=True, text=True, timeout=VM_SECONDS)
                body = open(out.name).read() if os.path.getsize(out.name) else ""
            sections[name] = (proc.returncode, body)
            if proc.returncode:
                sections[f"stderr:{name}"] = (0, "\n".join(proc.stdout.splitlines()[-60:]))
        else:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=600)
            sections[name] = (proc.returncode, proc.stdout)
            if proc.returncode:
                sections[f"stderr:{name}"] = (0, proc.stderr)
    result = collect(kernel, sections, True)
    result.update(accel="none (this machine)", image="the running kernel")
    return result


def run_vm(kernel, bin_dir, out_dir, initramfs, accel_choice, cache):
    if kernel["source"].startswith("deb:"):
        vmlinuz, image = fetch_deb_kernel(kernel["source"][4:], cache)
    else:
        vmlinuz = kernel["source"][5:]
        if not os.path.exists(vmlinuz):
            raise Failure(f"{kernel['name']}: {vmlinuz} does not exist")
        image = vmlinuz
    if accel_choice["accel"] is None:
        accel_choice["accel"], accel_choice["note"] = choose_accel(accel_choice["requested"],
                                                                   vmlinuz, out_dir)
        if accel_choice["note"]:
            say(accel_choice["note"])
    accel = accel_choice["accel"]
    work = os.path.join(out_dir, kernel["name"])
    os.makedirs(work, exist_ok=True)
    result = boot(kernel, vmlinuz, image, initramfs, accel, work)
    if accel == "kvm" and not result["completed"]:
        # A kernel that passed the KVM smoke boot can still die under `-cpu host` on some
        # hosts (an older kernel meeting a newer CPU). TCG runs the same kernel code, so the
        # verdict comes from there and the KVM failure stays in the report.
        say(f"{kernel['name']}: did not finish under KVM; again emulated (TCG)")
        kvm_error = result.get("boot_error", "")
        result = boot(kernel, vmlinuz, image, initramfs, "tcg", work)
        result.update(kvm_error=kvm_error, accel="TCG (KVM did not finish)")
    return result


def boot(kernel, vmlinuz, image, initramfs, accel, work):
    console, results = os.path.join(work, "console.log"), os.path.join(work, "serial.log")
    for path in (console, results):
        if os.path.exists(path):
            os.remove(path)
    say(f"{kernel['name']}: booting {os.path.basename(vmlinuz)} under {accel.upper()} "
        "(the suite takes a few minutes emulated)")
    started = time.monotonic()
    code, err = qemu(vmlinuz, initramfs, accel, console, results, VM_SECONDS)
    sections, done = parse_sections(read_text(results))
    result = collect(kernel, sections, done)
    result.update(accel=accel.upper(), image=image, seconds=round(time.monotonic() - started))
    if not done:
        lines = read_text(console).splitlines()
        reached = "reached /init" if "uname" in sections else "never reached /init"
        result["boot_error"] = (f"qemu exit {code}: {err.strip()}\n" if err else "") + \
            f"({reached})\n" + "\n".join(console_excerpt(lines))
    return result


# Where a dying kernel says why; the console's last lines are only the shutdown.
CRASH = re.compile(r"Kernel panic|BUG:|Oops|general protection fault|kernel BUG|"
                   r"Call Trace|RIP:|Out of memory|VFS: Unable|No working init")


def console_excerpt(lines, before=10, limit=60, tail=30):
    """The console lines worth reading: from just before the first crash message, else
    the last `tail` lines."""
    first = next((i for i, line in enumerate(lines) if CRASH.search(line)), None)
    if first is None:
        return lines[-tail:]
    start = max(0, first - before)
    excerpt = lines[start:start + limit]
    if len(lines) > start + limit:
        excerpt += ["...", *lines[-5:]]
    return excerpt


def read_text(path):
    """The file's text, or "" when the guest never wrote it."""
    if not os.path.exists(path):
        return ""
    with open(path, errors="replace") as f:
        return f.read()


# --- the report ----------------------------------------------------------------------

def verdict(result):
    check = result.get("kernel_check")
    tests = result["tests"].values()
    failed = sum(len(t["failed"]) + (0 if t["ran"] else 1) for t in tests)
    rejected = [p for p in (check or {}).get("programs", [])
                if not p["loaded"] and not p.get("left_out")]
    ok = result["completed"] and check is not None and not failed and not rejected and \
        len(result["tests"]) == len(TESTS)
    return ok, failed, rejected


def render(results, accel_note, command):
    lines = ["# Kernel test matrix", "",
             f"`{command}`, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}. "
             "Each kernel runs `skewless-agent kernel-check` and the real-kernel test suite "
             f"({', '.join(f'`{t}`' for t in TESTS)}).", ""]
    if accel_note:
        lines += [f"Note: {accel_note}.", ""]
    lines += ["| kernel | release | how | agent can run | optional features off | "
              "programs loaded | tests passed | verdict |", "|---|---|---|---|---|---|---|---|"]
    for r in results:
        check = r.get("kernel_check") or {}
        ok, failed, rejected = verdict(r)
        off = [f["name"] for f in check.get("features", []) if not f["present"]]
        programs = check.get("programs", [])
        passed = sum(t["passed"] for t in r["tests"].values())
        total = passed + sum(len(t["failed"]) for t in r["tests"].values())
        lines.append(
            f"| {r['kernel']['name']} | {r['release'] or '?'} | {r['accel']} | "
            f"{'yes' if check.get('can_run') else 'no'} | {', '.join(off) or 'none'} | "
            f"{sum(p['loaded'] for p in programs)}/{len(programs)}"
            f"{f' ({len(rejected)} rejected)' if rejected else ''} | {passed}/{total} | "
            f"{'pass' if ok else 'FAIL'} |")
    for r in results:
        check = r.get("kernel_check") or {}
        lines += ["", f"## {r['kernel']['name']}: {r['kernel']['description']}", "",
                  f"Linux {r['release'] or '?'} ({r['image']}), {r['accel']}"
                  + (f", {r['seconds']} s" if "seconds" in r else "") + "."]
        if "kvm_error" in r:
            lines += ["", "Under KVM it did not finish, so this verdict is from a rerun emulated "
                      "(TCG); the KVM console:", "", "```", r["kvm_error"], "```"]
        if "boot_error" in r:
            lines += ["", "Did not finish:", "", "```", r["boot_error"], "```"]
        if not check:
            lines += ["", "kernel-check gave no report:", "", "```",
                      r.get("kernel_check_error", ""), "```"]
        else:
            lines += ["", "| BPF feature | since | present |", "|---|---|---|"]
            for f in check["features"]:
                lines.append(f"| {f['name']} | {f['since']}{' (required)' if f['required'] else ''}"
                             f" | {'yes' if f['present'] else 'NO: ' + f['without_it']} |")
            lines += ["", "| program | section | verifier |", "|---|---|---|"]
            for p in check["programs"]:
                status = "accepted" if p["loaded"] else \
                    "left out (optional feature missing)" if p.get("left_out") else "REJECTED"
                lines.append(f"| {p['object']}/{p['name']} | `{p['section']}` | {status} |")
            for p in check["programs"]:
                if not p["loaded"] and not p.get("left_out"):
                    lines += ["", f"Verifier log of {p['name']} ({p['error']}), last lines:", "",
                              "```", p["verifier_log"].rstrip(), "```"]
        lines += ["", "| test binary | passed | failed | skipped |", "|---|---|---|---|"]
        for test in TESTS:
            t = r["tests"].get(test)
            if t is None:
                lines.append(f"| {test} | – | did not run | – |")
                continue
            lines.append(f"| {test} | {t['passed']} | "
                         f"{', '.join(t['failed']) or (0 if t['ran'] else 'crashed, rc %s' % t['rc'])}"
                         f" | {len(t['skipped'])} |")
        for test, t in r["tests"].items():
            if t["log"]:
                lines += ["", f"{test}, last lines of its output:", "", "```", t["log"].rstrip(),
                          "```"]
    return "\n".join(lines) + "\n"


def main():
    global TESTS
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("bin_dir", help="the build's bin directory (build/bin)")
    parser.add_argument("--kernels", default=os.path.join(HERE, "kernels.txt"),
                        help="the matrix (default tests/vm/kernels.txt)")
    parser.add_argument("--only", action="append", help="run only this kernel (repeatable)")
    parser.add_argument("--accel", choices=["auto", "kvm", "tcg"], default="auto",
                        help="auto: KVM if a guest boots under it, else TCG")
    parser.add_argument("--out", default="build/kernel-test", help="results and cache")
    parser.add_argument("--test", action="append", choices=TESTS,
                        help="run only this test binary (repeatable; default all)")
    args = parser.parse_args()
    TESTS = args.test or TESTS
    if os.geteuid() != 0:
        print("kernel-test: needs root (loads BPF programs; the native row attaches them)",
              file=sys.stderr)
        return 2
    try:
        kernels = parse_matrix(args.kernels)
        if args.only:
            unknown = set(args.only) - {k["name"] for k in kernels}
            if unknown:
                raise Failure(f"--only: no kernel named {', '.join(sorted(unknown))} in "
                              f"{args.kernels}")
            kernels = [k for k in kernels if k["name"] in args.only]
        os.makedirs(args.out, exist_ok=True)
        out_dir = os.path.abspath(args.out)
        initramfs = None
        accel = {"requested": args.accel, "accel": None, "note": ""}
        results = []
        for kernel in kernels:
            if kernel["source"] == "native":
                say(f"{kernel['name']}: the running kernel, in place")
                results.append(run_native(kernel, args.bin_dir))
                continue
            if not shutil.which("qemu-system-x86_64"):
                raise Failure("qemu-system-x86_64 is not installed (make deps installs it)")
            if initramfs is None:
                initramfs = os.path.join(out_dir, "initramfs.cpio.gz")
                say("building the initramfs")
                build_initramfs(args.bin_dir, initramfs, TESTS)
            results.append(run_vm(kernel, args.bin_dir, out_dir, initramfs, accel,
                                  os.path.join(out_dir, "cache")))
    except (Failure, subprocess.CalledProcessError) as e:
        detail = e.stderr if isinstance(e, subprocess.CalledProcessError) else ""
        print(f"kernel-test: {e}{': ' + detail.strip() if detail else ''}", file=sys.stderr)
        return 2
    flags = [f"--only {name}" for name in args.only or []]
    if args.accel != "auto":
        flags.append(f"--accel {args.accel}")
    flags += [f"--test {name}" for name in args.test or []]
    if args.kernels != os.path.join(HERE, "kernels.txt"):
        flags.append(f"--kernels {args.kernels}")
    command = "make kernel-test" + (f" KERNEL_TEST_FLAGS='{' '.join(flags)}'" if flags else "")
    report = render(results, accel["note"], command)
    with open(os.path.join(out_dir, "results.md"), "w") as f:
        f.write(report)
    with open(os.path.join(out_dir, "results.json"), "w") as f:
        json.dump(results, f, indent=2)
    print(report)
    passed = all(verdict(r)[0] for r in results)
    print(f"kernel-test: {sum(verdict(r)[0] for r in results)} of {len(results)} kernels "
          f"pass (report: {args.out}/results.md)")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())

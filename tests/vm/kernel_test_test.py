#!/usr/bin/env python3
"""tests/vm/kernel_test.py's own logic, with qemu replaced: a kernel that dies under KVM is
booted again under TCG and both runs reach the report; the console excerpt keeps the
panic's reason, not only the shutdown lines after it."""
import os
import pathlib
import shutil
import sys
import tempfile
import unittest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import kernel_test  # noqa: E402

PANIC_CONSOLE = [f"[    1.{i:06d}] early line {i}" for i in range(50)] + [
    "[    3.600000] Kernel panic - not syncing: Attempted to kill init! exitcode=0x0000000b",
    "[    3.610000] CPU: 1 PID: 1 Comm: init Not tainted 5.10.0-32-amd64",
    "[    3.653684] Shutting down cpus with NMI",
    "[    3.654732] Kernel Offset: 0x26400000 from 0xffffffff81000000",
]


def complete_serial():
    lines = ["SKW-BEGIN uname", "5.10.0-32-amd64", "SKW-END uname 0",
             "SKW-BEGIN kernel-check", '{"can_run": true, "features": [], "programs": []}',
             "SKW-END kernel-check 0"]
    for test in kernel_test.TESTS:
        lines += [f"SKW-BEGIN test:{test}",
                  '{"testsuites": [{"name": "S", "testsuite": [{"name": "a"}]}]}',
                  f"SKW-END test:{test} 0"]
    return "\n".join(lines + ["SKW-DONE"]) + "\n"


class FakeQemu:
    """Dies like the CI's 5.10 guest did under KVM; completes the suite under TCG."""

    def __init__(self):
        self.calls = []

    def __call__(self, vmlinuz, initramfs, accel, console, results, timeout):
        self.calls.append(accel)
        with open(console, "w") as f:
            f.write("\n".join(PANIC_CONSOLE if accel == "kvm" else ["booted"]) + "\n")
        if accel != "kvm":
            with open(results, "w") as f:
                f.write(complete_serial())
        return 0, ""


class KernelTestHarness(unittest.TestCase):
    def setUp(self):
        self.out = tempfile.mkdtemp(prefix="skewless-kernel-test-test-")
        self.kernel = {"name": "k", "source": "file:" + os.path.join(self.out, "vmlinuz"),
                       "description": "a kernel"}
        open(os.path.join(self.out, "vmlinuz"), "w").close()
        self.real_qemu = kernel_test.qemu
        self.fake = kernel_test.qemu = FakeQemu()

    def tearDown(self):
        kernel_test.qemu = self.real_qemu
        shutil.rmtree(self.out, ignore_errors=True)

    def run_vm(self, accel):
        choice = {"requested": accel, "accel": accel, "note": ""}
        return kernel_test.run_vm(self.kernel, "bin", self.out, "initramfs", choice, "cache")

    def test_a_kernel_that_dies_under_kvm_is_judged_under_tcg(self):
        result = self.run_vm("kvm")
        self.assertEqual(self.fake.calls, ["kvm", "tcg"])
        self.assertTrue(kernel_test.verdict(result)[0])
        self.assertIn("Attempted to kill init", result["kvm_error"])
        self.assertIn("never reached /init", result["kvm_error"])
        report = kernel_test.render([result], "", "make kernel-test")
        self.assertIn("TCG (KVM did not finish)", report)
        self.assertIn("Kernel panic - not syncing", report)

    def test_a_failure_under_tcg_is_not_retried(self):
        calls = []

        def hangs(vmlinuz, initramfs, accel, console, results, timeout):
            calls.append(accel)
            return None, "no power-off within 1800 s"
        kernel_test.qemu = hangs
        result = self.run_vm("tcg")
        self.assertEqual(calls, ["tcg"])
        self.assertFalse(kernel_test.verdict(result)[0])
        self.assertIn("no power-off", result["boot_error"])

    def test_the_excerpt_starts_before_the_panic(self):
        excerpt = kernel_test.console_excerpt(PANIC_CONSOLE)
        self.assertIn("Kernel panic - not syncing", "\n".join(excerpt))
        self.assertEqual(excerpt[0], PANIC_CONSOLE[40])
        self.assertEqual(excerpt[-1], PANIC_CONSOLE[-1])

    def test_without_a_crash_the_excerpt_is_the_tail(self):
        lines = [f"line {i}" for i in range(100)]
        self.assertEqual(kernel_test.console_excerpt(lines), lines[-30:])

    def test_a_long_crash_report_is_cut_and_keeps_its_last_lines(self):
        lines = ["x"] * 5 + ["BUG: unable to handle page fault"] + [f"trace {i}" for i in range(200)]
        excerpt = kernel_test.console_excerpt(lines)
        self.assertEqual(excerpt[0], "x")
        self.assertIn("...", excerpt)
        self.assertEqual(excerpt[-1], "trace 199")
        self.assertLess(len(excerpt), 70)


if __name__ == "__main__":
    unittest.main()

# Front door: every target installs what it needs, configures, builds, then acts.
# Quick start (Debian 12, as root): `make demo`, `make test`.
BUILD_DIR ?= build
BUILD_TYPE ?= RelWithDebInfo
CMAKE_FLAGS ?=
NPROC := $(shell nproc)

.PHONY: all deps configure build demo test bench kernel-test clean lab-cleanup

all: build

deps:
	@bash scripts/install-deps.sh

$(BUILD_DIR)/build.ninja: | deps
	cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) $(CMAKE_FLAGS)

configure: deps $(BUILD_DIR)/build.ninja

build: configure
	cmake --build $(BUILD_DIR) -j $(NPROC)

demo: build
	$(BUILD_DIR)/bin/skewless-lab demo --save $(BUILD_DIR)/demo.json
	/usr/bin/python3 scripts/demo_chart.py $(BUILD_DIR)/demo.json $(BUILD_DIR)/demo.png

test: build
	cd $(BUILD_DIR) && ctest --output-on-failure --timeout 600

bench: build
	python3 bench/run.py $(BUILD_DIR) $(BENCH_FLAGS)

# The BPF data path's real-kernel suite on each kernel of tests/vm/kernels.txt, in qemu
# (docs/kernel-test.md). Only what runs inside the VMs is built.
KERNEL_TEST_BINARIES := skewless-agent connect_observer_test steer_connect_test \
  steer_balance_test steer_lifecycle_test pinned_steering_test steer_splice_test
kernel-test: configure
	cmake --build $(BUILD_DIR) -j $(NPROC) --target $(KERNEL_TEST_BINARIES)
	/usr/bin/python3 tests/vm/kernel_test.py $(BUILD_DIR)/bin --out $(BUILD_DIR)/kernel-test \
	  $(KERNEL_TEST_FLAGS)

lab-cleanup: build
	$(BUILD_DIR)/bin/skewless-lab cleanup

clean:
	rm -rf $(BUILD_DIR)

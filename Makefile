# A thin wrapper around CMake and the scripts:
#   make          builds build/ (cmake, default build type)
#   make test     runs scripts/test.sh (every test; interop needs root)
#   make bench    builds a Release library in build-release/ and runs bench/run.sh
#                 (root; BENCH_ARGS="--runs 3 --only udp_bulk_1472_cable --out FILE" passes options)
#   make fuzz     builds the libFuzzer targets (clang, ASan+UBSan) in build-fuzz/ and runs each
#                 for FUZZ_SECONDS (default 300) with tests/fuzz/run.sh; prints executions,
#                 coverage (cov, ft) and crashes per target, fails on any crash
#   make clean    removes build/ and build-release/
BUILD ?= build
RELEASE ?= build-release
BENCH_ARGS ?=
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
FUZZ_SECONDS ?= 300
FUZZ_BUILD ?= build-fuzz

.PHONY: all build test bench fuzz clean

all: build

build:
	cmake -S . -B $(BUILD)
	cmake --build $(BUILD) -j $(JOBS)

test:
	./scripts/test.sh

bench:
	cmake -S . -B $(RELEASE) -DCMAKE_BUILD_TYPE=Release -DNP_SANITIZE=OFF -DNP_TSAN=OFF
	cmake --build $(RELEASE) -j $(JOBS) --target netpath_static
	BUILD=$(RELEASE) ./bench/run.sh $(BENCH_ARGS)

fuzz:
	FUZZ_BUILD=$(FUZZ_BUILD) ./tests/fuzz/run.sh $(FUZZ_SECONDS)

clean:
	rm -rf $(BUILD) $(RELEASE)

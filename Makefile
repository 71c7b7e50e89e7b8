# Thin wrapper over CMake + Ninja. `make` builds build/ (binaries in build/bin/);
# `make test` installs what is missing, checks formatting, runs the static analysis, builds the
# ASan+UBSan tree build/asan/, runs every ctest test, then the Valgrind runs in build/valgrind/,
# the Windows build and its tests under wine, and the portable agent's packages tested on
# Debian 11/13 roots, with rpm and under qemu; `make run` starts the demo (with simulated GPU
# servers); `make package` builds the agent's .deb/.rpm/.tar.gz; `make bench` the benchmarks.
BUILD      ?= build
TEST_BUILD ?= build/asan
VALGRIND_BUILD ?= build/valgrind
CMAKE_FLAGS ?=
CTEST_FLAGS ?=

.PHONY: all build deps test test-only test-windows test-valgrind test-portable analyze format \
        format-check run bench clean package windows package-windows fuzz fuzz-test

all: build

build:
	@test -f $(BUILD)/build.ninja || cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBUILD_TESTING=ON $(CMAKE_FLAGS)
	cmake --build $(BUILD)

deps:
	scripts/deps.sh

# The test trees: scripts/test-all.sh runs test-only, fuzz-test and test-valgrind while the
# Windows and portable-agent libraries (and the Debian roots) are prepared in the background,
# then test-windows and test-portable.
test: deps format-check analyze
	TEST_BUILD=$(TEST_BUILD) scripts/test-all.sh

test-only:
	@test -f $(TEST_BUILD)/build.ninja || cmake -S . -B $(TEST_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DMON_SANITIZE=ON -DBUILD_TESTING=ON $(CMAKE_FLAGS)
	cmake --build $(TEST_BUILD)
	cd $(TEST_BUILD) && ctest --output-on-failure --timeout 300 -j2 $(CTEST_FLAGS)

# The agent, aggregator and security suites with the daemons under Valgrind memcheck, and the
# constant-time check of the token compares under callgrind (ctest -L valgrind), in a tree
# built without sanitizers.
test-valgrind:
	@test -f $(VALGRIND_BUILD)/build.ninja || cmake -S . -B $(VALGRIND_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMON_VALGRIND=ON -DBUILD_TESTING=ON $(CMAKE_FLAGS)
	cmake --build $(VALGRIND_BUILD)
	cd $(VALGRIND_BUILD) && ctest --output-on-failure --timeout 900 -j2 -L valgrind

# cppcheck and clang-tidy on src/ (.clang-tidy, scripts/analyze/).
analyze:
	scripts/analyze.sh

format:
	scripts/format.sh fix

format-check:
	scripts/format.sh check

# The demo: installs what is missing (quietly when nothing is), builds, then starts the agent,
# the simulated GPU servers (SIM=0: none) and the aggregator (scripts/demo.sh).
SIM ?= 1
run:
	@scripts/deps.sh --quiet run
	@$(MAKE) --no-print-directory build
	SIM=$(SIM) BUILD=$(BUILD) scripts/demo.sh

bench: build
	bench/run-all.sh

# libFuzzer harnesses (clang, build/fuzz): each target for FUZZ_SECONDS (default 60), then a table.
fuzz:
	scripts/fuzz.sh run

# Part of make test: every committed corpus input once, then FUZZ_TEST_SECONDS (15) of fuzzing
# per target (ctest -L fuzz in build/fuzz).
fuzz-test:
	scripts/fuzz.sh test

# Cross-built monitor-aggregator.exe (mingw-w64, static libraries cached outside the tree), its
# unit tests under wine, the zip, and tests/windows/test_windows.py (a native agent, the Windows
# service under wine's SCM, the unzipped package). `make test` runs it with the ASan agent.
windows:
	scripts/windows-build

test-windows:
	NATIVE_BUILD=$(TEST_BUILD) scripts/windows-build

# build/windows/lanmon-aggregator-<version>-win64.zip (no tests).
package-windows:
	SKIP_TESTS=1 SKIP_INTEGRATION=1 scripts/windows-build

# The portable agent for x86_64 and aarch64 (glibc >= 2.28, see scripts/portable-build) and its
# packages in build/portable/packages/: .deb, .rpm and .tar.gz per architecture.
package:
	scripts/portable-build

# The same, then the packages and binaries tested on Debian 11 and 13 roots (chroot), with rpm
# and under qemu-aarch64 (tests/portable/test_portable.py). Part of make test.
test-portable:
	TEST_BUILD=$(TEST_BUILD) scripts/test-portable

clean:
	rm -rf $(BUILD)

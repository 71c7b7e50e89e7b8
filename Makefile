# Thin wrapper over CMake + Ninja. `make` builds build/ (binaries in build/bin/);
# `make test` installs what is missing, checks formatting, builds the ASan+UBSan tree
# build/asan/ and runs every ctest test; `make run` starts the demo; `make bench` the benchmarks.
BUILD      ?= build
TEST_BUILD ?= build/asan
CMAKE_FLAGS ?=
CTEST_FLAGS ?=

.PHONY: all build deps test test-only format format-check run bench clean package windows

all: build

build:
	@test -f $(BUILD)/build.ninja || cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBUILD_TESTING=ON $(CMAKE_FLAGS)
	cmake --build $(BUILD)

deps:
	scripts/deps.sh

test: deps format-check test-only

test-only:
	@test -f $(TEST_BUILD)/build.ninja || cmake -S . -B $(TEST_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DMON_SANITIZE=ON -DBUILD_TESTING=ON $(CMAKE_FLAGS)
	cmake --build $(TEST_BUILD)
	cd $(TEST_BUILD) && ctest --output-on-failure --timeout 300 -j2 $(CTEST_FLAGS)

format:
	scripts/format.sh fix

format-check:
	scripts/format.sh check

run: build
	scripts/demo.sh

bench: build
	bench/run-all.sh

# Cross-built monitor-aggregator.exe (mingw-w64, static libraries cached outside the tree), its
# unit tests under wine and a check against a native agent; not part of `make test`.
windows:
	scripts/windows-build

package: build
	cmake --build $(BUILD) --target package

clean:
	rm -rf $(BUILD)

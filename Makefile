# dwvd — the commands a user types. Meson does the building (meson.build); this file
# names the jobs and first makes sure the machine has what they need (scripts/deps.sh
# installs missing Debian packages and does nothing when all are present).
#
#   make run        build, then run the demo on the built-in configuration
#   make test       build and run every test: optimised, ASan+UBSan, TSan (concurrent parts),
#                   and each libFuzzer target for a minute (clang)
#   make test-long  the same with the randomised tests scaled up 100x, fuzzing 10 minutes each
#   make bench      build and run the benchmarks
#   make build      build the optimised library and the `dw` program
#   make lint       clang-tidy and cppcheck on src/
#   make clean      remove every build
#
# CC=clang make test builds and tests with clang instead of gcc.

CC ?= cc
COMPILER := $(notdir $(firstword $(CC)))
DEPS := build $(if $(findstring clang,$(COMPILER)),clang)
RELEASE := build/$(COMPILER)/release

.DEFAULT_GOAL := build
.PHONY: deps build run test test-long bench lint clean

deps:
	@scripts/deps.sh $(DEPS)

build: deps
	@CC="$(CC)" scripts/build.sh release

run: build
	@$(RELEASE)/src/cli/dw demo

test: deps
	@scripts/deps.sh clang
	@CC="$(CC)" scripts/test.sh

test-long: deps
	@scripts/deps.sh clang
	@CC="$(CC)" scripts/test.sh --long

bench: deps
	@scripts/deps.sh bench
	@CC="$(CC)" scripts/build.sh release
	@CC="$(CC)" scripts/bench.sh

lint: deps
	@scripts/deps.sh lint
	@scripts/lint.sh

clean: deps
	rm -rf build

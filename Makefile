# The two commands of the README, plus a plain build and the fuzzers.
.PHONY: all build run test fuzz clean
all: build
build:
	./deploy/dev/deps.sh
	cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo
	cmake --build build -j$$(nproc)
run:
	./deploy/dev/up.sh
test:
	./tests/run.sh
# every libFuzzer harness of tests/fuzz for SECS seconds each (clang-14)
SECS ?= 30
fuzz:
	./deploy/dev/deps.sh --test
	./tests/fuzz/run.sh $(SECS)
clean:
	rm -rf build build-test build-fuzz

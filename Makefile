# The two commands of the README, plus a plain build.
.PHONY: all build run test clean
all: build
build:
	./deploy/dev/deps.sh
	cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo
	cmake --build build -j$$(nproc)
run:
	./deploy/dev/up.sh
test:
	./tests/run.sh
clean:
	rm -rf build build-test

# Thin wrappers: the scripts are the source of truth (they run on a fresh
# Debian 12 machine, where make itself may be missing).
.PHONY: setup build demo test bench package
setup:
	scripts/setup.sh
build:
	go build -o anonymize .
demo:
	scripts/demo.sh
test:
	scripts/test.sh
bench:
	scripts/bench.sh
package:
	scripts/package.sh --check

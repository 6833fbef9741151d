# Entry points for developers and CI. Every target that runs code first
# runs scripts/setup.sh, which returns in under a second when nothing changed.
# scripts/with-tools.sh puts .venv/bin, .tools/bin and the wheel's Node 24
# first on PATH.

.PHONY: setup setup-checkov setup-runtime setup-cluster test-cluster dist synth test check-dist

# Extra arguments for pytest, e.g. make test PYTEST_ARGS='-k helm -x'.
PYTEST_ARGS ?=

setup:
	@bash scripts/setup.sh

# checkov lives in a virtual environment of its own (.tools/checkov-venv): its
# pins clash with the project's. Only the tests need it.
setup-checkov:
	@bash scripts/setup-checkov.sh

# The runtime tier's llamafactory environments (about 6.6 GB each, outside the
# work tree) and Debian's chromium. It reads the versions from the values model
# in .venv, so it runs after setup.
setup-runtime: setup
	@bash scripts/setup-runtime.sh

# The cluster tier's programs, built from upstream Go modules into a cache outside
# the work tree (several minutes cold, under a second warm); see tools/cluster.
setup-cluster:
	@bash scripts/setup-cluster.sh

# Start the test cluster by hand and keep it running until Ctrl-C.
test-cluster: setup setup-cluster
	scripts/with-tools.sh .venv/bin/python tests/kube_cluster.py

# Rebuild dist/ from scratch, as `cdk8s synth` does, so that a file no
# chart writes any more shows up as deleted in check-dist.
dist: setup
	rm -rf dist
	scripts/with-tools.sh .venv/bin/python app.py

synth: setup
	scripts/with-tools.sh tools/node_modules/.bin/cdk8s synth --no-check-upgrade

# pytest exits 5 when it collects no tests; that fails here and in CI.
test: setup setup-checkov setup-runtime setup-cluster
	scripts/with-tools.sh .venv/bin/python -m pytest $(PYTEST_ARGS) || { \
		rc=$$?; \
		if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests" >&2; fi; \
		exit $$rc; \
	}

check-dist: dist
	@if [ -n "$$(git status --porcelain -- dist/)" ]; then \
		echo "make check-dist: dist/ does not match what app.py generates:" >&2; \
		git status --porcelain -- dist/ >&2; \
		git diff --stat -- dist/ >&2; \
		echo "Run 'make dist' and commit dist/." >&2; \
		exit 1; \
	fi
	@echo "make check-dist: dist/ is up to date" >&2

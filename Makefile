# zkops.zookeeper: the README's two commands, and the stages of the test suite.
.PHONY: demo test sanity lint unit integration lowest latest matrix lock bench lab-clean ee-context

# The main job on a local demo ensemble (builds the lab, runs the drill, tears it down).
demo:
	tests/demo

# The whole test suite (installs what it needs, starts every server it uses).
test:
	tests/run

sanity lint unit integration:
	tests/run $@

# The ends of the supported ranges: Debian 12's libraries with the lowest ansible-core
# (also part of `make test`), and the newest releases of everything (not part of `make
# test`: a new upstream release fails this stage, by name, not the suite).
lowest latest:
	tests/run $@

# Every ZooKeeper release of the lab (3.5.9, 3.6.3, 3.7.2, Debian's 3.8.0, 3.9.5) through
# the version tests, their jars fetched first when missing (not part of `make test`, which
# runs 3.8.0 and the newest release).
matrix:
	tests/run $@

# Rewrite the locks (tests/lock/, execution-environment/requirements-lock.txt) from the
# loose requirement files: a deliberate step, its diff reviewed like code.
lock:
	tests/lock-requirements

# Every benchmark, each against its baseline in the same run (bench/README.md).
bench:
	tests/setup-env
	[ -x .venv-bench/bin/zk-shell ] || { /usr/bin/python3 -m venv .venv-bench && \
		.venv-bench/bin/pip install -q --disable-pip-version-check -r bench/requirements.txt; }
	.venv/bin/python bench/run.py

# Remove every lab left behind (after an interrupted run).
lab-clean:
	cd tests && ../.venv/bin/python -m lab reap --all

# The execution environment's build context (execution-environment/context): the collection
# tarball next to the definition, then ansible-builder create. Build the image from it with
# podman or docker (docs/awx.md).
ee-context:
	tests/setup-env && .venv/bin/pip install -q -r tests/requirements-ops.txt
	rm -rf execution-environment/context execution-environment/zkops-zookeeper*.tar.gz
	.venv/bin/ansible-galaxy collection build --force --output-path execution-environment .
	mv execution-environment/zkops-zookeeper-*.tar.gz execution-environment/zkops-zookeeper.tar.gz
	.venv/bin/ansible-builder create -f execution-environment/execution-environment.yml \
		-c execution-environment/context --output-filename Containerfile

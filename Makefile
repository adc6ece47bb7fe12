# zkops.zookeeper: the README's two commands, and the stages of the test suite.
.PHONY: demo test sanity lint unit integration bench lab-clean

# The main job on a local demo ensemble (builds the lab, runs the drill, tears it down).
demo:
	tests/demo

# The whole test suite (installs what it needs, starts every server it uses).
test:
	tests/run

sanity lint unit integration:
	tests/run $@

bench:
	tests/setup-env && .venv/bin/python bench/run.py

# Remove every lab left behind (after an interrupted run).
lab-clean:
	cd tests && ../.venv/bin/python -m lab reap --all

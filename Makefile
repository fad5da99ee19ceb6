# The two commands of the README: `make demo` and `make test`. Both set everything up first.
VIDEO ?= ../shared/media/pushup_side_nasm.mp4
OUT ?= out

.PHONY: setup demo test lint bench
setup:
	@bash scripts/setup.sh

# The main job on the embedded default (MediaPipe 2D + world-landmark 3D, no downloaded weights).
demo: setup
	@mkdir -p $(OUT)
	.venv/bin/coach poses $(VIDEO) -o $(OUT)/$(basename $(notdir $(VIDEO))).npz
	.venv/bin/coach checkpoints

test: setup
	.venv/bin/python -m pytest

lint: setup
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy

bench: setup
	.venv/bin/python benchmarks/bench_poses.py
	.venv/bin/python benchmarks/bench_scoring.py

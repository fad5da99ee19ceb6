# The two commands of the README: `make demo` and `make test`. Both set everything up first.
VIDEO ?= ../shared/media/pushup_side_nasm.mp4
OUT ?= out

.PHONY: setup setup-browser demo poses-demo test lint bench
setup:
	@bash scripts/setup.sh

setup-browser:
	@bash scripts/setup.sh --browser

# The main job on the embedded default (MediaPipe 2D + world-landmark 3D, no downloaded weights):
# the live coach at http://127.0.0.1:8000/ (HOST/PORT to change; Ctrl+C stops).
HOST ?= 127.0.0.1
PORT ?= 8000
demo: setup
	.venv/bin/coach serve --host $(HOST) --port $(PORT)

# Batch: a clip -> poses (.npz) and its rep report.
poses-demo: setup
	@mkdir -p $(OUT)
	.venv/bin/coach poses $(VIDEO) -o $(OUT)/$(basename $(notdir $(VIDEO))).npz
	.venv/bin/coach analyze $(VIDEO) --exercise pushup

test: setup-browser
	.venv/bin/python -m pytest

lint: setup
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy

bench: setup-browser
	.venv/bin/python -m benchmarks.bench_poses
	.venv/bin/python -m benchmarks.bench_scoring
	.venv/bin/python -m benchmarks.bench_live
	.venv/bin/python -m benchmarks.bench_tips

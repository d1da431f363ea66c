# Set-up and entry points. `make demo` opens napari with the plugin; `make test` runs every test
# headless. Both install what they need: Debian packages for Qt/OpenGL, then a virtual
# environment with the CPU build of torch first (any other torch would pull a CUDA build).

VENV ?= .venv
PY := $(VENV)/bin/python
TORCH := torch==2.13.0
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
SYSTEM_PACKAGES := xvfb xauth libgl1-mesa-dri libglx-mesa0 libxkbcommon-x11-0 libxcb-icccm4 \
	libxcb-image0 libxcb-keysyms1 libxcb-randr0 libxcb-render-util0 libxcb-xinerama0 \
	libxcb-xfixes0 libxcb-shape0 libxcb-cursor0 libdbus-1-3 libfontconfig1

.PHONY: demo test lint screenshot bench system-deps

system-deps:
	@dpkg -s $(SYSTEM_PACKAGES) >/dev/null 2>&1 || { \
		$(SUDO) apt-get update -qq && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(SYSTEM_PACKAGES); }

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(TORCH)
	echo "$(TORCH)" > $(VENV)/torch-constraint.txt
	$(PY) -m pip install -q -c $(VENV)/torch-constraint.txt -e ".[qt,unet,testing]"
	touch $@

demo: system-deps $(VENV)/.installed
	@if [ -n "$$DISPLAY" ]; then $(VENV)/bin/napari-segtools demo; \
	else echo "No display: running under Xvfb and saving docs/screenshot.png instead"; \
		xvfb-run -a -s "-screen 0 1600x1000x24" $(VENV)/bin/napari-segtools demo --screenshot docs/screenshot.png; fi

lint: $(VENV)/.installed
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .
	$(PY) -m mypy

# Qt-free tests run on every core; the widget tests run in one process, since they time the
# GUI thread and a busy core would show as a stall
test: system-deps $(VENV)/.installed lint
	xvfb-run -a -s "-screen 0 1600x1000x24" $(PY) -m pytest -n auto --ignore=tests/qt $(PYTEST_ARGS)
	xvfb-run -a -s "-screen 0 1600x1000x24" $(PY) -m pytest tests/qt $(PYTEST_ARGS)

screenshot: system-deps $(VENV)/.installed
	xvfb-run -a -s "-screen 0 1600x1000x24" $(VENV)/bin/napari-segtools demo --screenshot docs/screenshot.png
	xvfb-run -a -s "-screen 0 1600x1000x24" $(PY) docs/make_screenshots.py

$(VENV)/.bench: $(VENV)/.installed
	$(PY) -m pip install -q -c $(VENV)/torch-constraint.txt -e ".[bench]"
	touch $@

bench: $(VENV)/.bench
	for script in benchmarks/bench_*.py; do echo "== $$script"; $(PY) $$script || exit 1; done

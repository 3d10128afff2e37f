# Switchyard: the two commands of README's Quick start, and the rest.
#   make demo   install what is missing, build in release mode, run the main job
#   make test   run the test suite (what CI runs)
#   make fuzz   fuzz every parser, 1,000,000 runs each (docs/reliability.md)
#   make mpi    install Open MPI, build switchyard-mpi (docs/expert-parallel.md); make test-mpi tests it
# Optimisation flags live here, never in Package.swift (unsafeFlags would stop other
# packages from depending on Switchyard).

SWIFT         ?= swift
# Code for this machine's CPU, with the same numbers bit for bit on every choice (no operation
# is fused, and only kernels whose vector lanes never meet change width; make test checks it).
# Each -target-cpu below also assumes BMI2 and MOVBE, so they are checked too:
# - AVX-512 (F, CD, BW, DQ, VL): -target-cpu skylake-avx512, and -DSWITCHYARD_AVX512 runs the
#   element-wise kernels (GELU, the exponential) 16 lanes at a time;
# - else AVX2 and FMA: -target-cpu haswell, about 20 % faster SIMD kernels than baseline x86-64.
# For a binary meant for another machine: make release CPU_FLAGS=
CPU_HAS   = $(shell grep -m1 '^flags' /proc/cpuinfo 2>/dev/null | tr ' ' '\n' | grep -cxE '$(1)')
AVX512    := $(filter 7,$(call CPU_HAS,avx512f|avx512cd|avx512bw|avx512dq|avx512vl|bmi2|movbe))
AVX2_FMA  := $(filter 4,$(call CPU_HAS,avx2|fma|bmi2|movbe))
CPU_FLAGS ?= $(if $(AVX512),-Xswiftc -target-cpu -Xswiftc skylake-avx512 -Xswiftc -DSWITCHYARD_AVX512,$(if $(AVX2_FMA),-Xswiftc -target-cpu -Xswiftc haswell))
RELEASE_FLAGS ?= -c release -Xswiftc -enforce-exclusivity=unchecked $(CPU_FLAGS)
BIN           := .build/release/switchyard
THREADS       ?= 2
SEED          ?= 0
RUN_DIR       ?= runs/demo-switch

.PHONY: demo test deps build release mpi test-mpi bench bench-torch fuzz fuzz-smoke llm-fixtures test-exporter clean

deps:
	bash scripts/install-deps.sh

build:
	$(SWIFT) build

release:
	$(SWIFT) build $(RELEASE_FLAGS) --product switchyard

# The main job: train the default preset (fmnist-small, switch router) on Fashion-MNIST,
# evaluate the final checkpoint, analyse its routing of the test set (every number in
# RUN_DIR/analysis.json) and write the markdown report, whose path is printed last.
# On two cores: about a minute to build, under two minutes to train, seconds for the rest.
demo: deps release
	$(BIN) train --preset fmnist-small --router switch --seed $(SEED) --threads $(THREADS) --out $(RUN_DIR) --overwrite
	$(BIN) eval $(RUN_DIR)
	$(BIN) analyze $(RUN_DIR) --json $(RUN_DIR)/analysis.json > /dev/null
	$(BIN) report $(RUN_DIR) --out $(RUN_DIR)/report
	@echo "report: $(RUN_DIR)/report/report.md"

# The example package (a user's custom router) is built and trains a few steps first; the
# optimised build and the example's debug build (no CPU flags, 8-lane kernels) must then train
# to the same numbers bit for bit (scripts/test-builds-agree.sh), and every built-in router must
# give the numbers of the reference commit (scripts/test-routers-unchanged.sh); then
# every parser's fuzz target runs 3,000 inputs (scripts/fuzz.sh --smoke); sweeps run on the local
# cores and on a single-node Slurm started for the purpose (scripts/test-sweeps.sh, about two
# minutes; it installs slurm-wlm and munge when missing); the red team replays every attack of
# scripts/red-team.d (docs/reliability.md, about half a minute); Open MPI is installed when
# missing and its transport checked on 1, 2 and 4 ranks, over TCP, under srun, and with a rank
# killed (scripts/test-expert-parallel.sh, which also builds switchyard-mpi beside the tests);
# the test suite runs last (with SWITCHYARD_MPI=1, so that the expert-parallel training tests
# under mpirun must run), so its summary closes the output. The tests run on an optimised build with testing
# enabled (its own build folder, .build-test): they test the code that ships, and the SIMD
# kernels of an unoptimised build are some 25 times slower (the suite would take minutes, not
# seconds, to run).
TEST_FLAGS ?= -c release -Xswiftc -enable-testing $(CPU_FLAGS) --build-path .build-test

test:
	bash scripts/test-example.sh
	$(SWIFT) build $(TEST_FLAGS) --product switchyard
	bash scripts/test-builds-agree.sh .build-test/release/switchyard Examples/CustomRouter/.build/debug/my-switchyard
	bash scripts/test-routers-unchanged.sh .build-test/release/switchyard
	bash scripts/fuzz.sh --smoke
	bash scripts/test-sweeps.sh .build-test/release/switchyard
	bash scripts/red-team.sh .build-test/release/switchyard
	bash scripts/test-expert-parallel.sh $(TEST_FLAGS)
	SWITCHYARD_MPI=1 $(SWIFT) test $(TEST_FLAGS) --disable-swift-testing

# Expert-parallel training over Open MPI (docs/expert-parallel.md): Package.swift declares the
# MPI targets only when SWITCHYARD_MPI=1, so the plain build never needs MPI. `make mpi` installs
# Open MPI when missing, then builds .build/release/switchyard-mpi (the switchyard command line
# with MPI) beside switchyard, sharing its compiled modules, and switchyard-mpi-check (the
# transport's test). test-mpi runs the transport's test (scripts/test-expert-parallel.sh) on the
# same build.
mpi:
	bash scripts/install-mpi.sh
	SWITCHYARD_MPI=1 $(SWIFT) build $(RELEASE_FLAGS) --product switchyard-mpi
	SWITCHYARD_MPI=1 $(SWIFT) build $(RELEASE_FLAGS) --product switchyard-mpi-check

test-mpi:
	bash scripts/test-expert-parallel.sh $(RELEASE_FLAGS)

# libFuzzer on every parser (the Fuzz package, built with -sanitize=fuzzer,address):
# 1,000,000 runs per target, about 40 minutes (docs/reliability.md); fuzz-smoke is the short run of
# `make test`. FUZZ_TARGETS limits either to some targets (e.g. FUZZ_TARGETS=fuzz-npy).
FUZZ_TARGETS ?=
fuzz:
	bash scripts/fuzz.sh --runs 1000000 $(FUZZ_TARGETS)

fuzz-smoke:
	bash scripts/fuzz.sh --smoke $(FUZZ_TARGETS)

bench: release
	$(BIN) bench gemm --threads $(THREADS)
	$(BIN) bench stats

# Switchyard against the PyTorch reference (bench/torch_reference.py), alternating runs,
# medians and ratios as markdown tables; needs torch (see docs/performance.md). Pass more
# options with COMPARE_ARGS, e.g. make bench-torch COMPARE_ARGS='--routers switch --steps 20'.
COMPARE_ARGS ?=
bench-torch:
	bash bench/compare.sh --threads $(THREADS) $(COMPARE_ARGS)

# The Hugging Face routing exporter (exporters/, docs/llm-traces.md): needs torch and
# transformers, which make test never does. llm-fixtures rewrites Tests/Fixtures/llm/ (four tiny
# random models, fixed seeds, bit for bit the committed files); test-exporter checks the
# exporter against each model's own routing (skipped with the reason when torch is missing).
PYTHON ?= python3
llm-fixtures:
	$(PYTHON) exporters/make_fixtures.py

test-exporter:
	$(PYTHON) exporters/test_hf_routing_export.py

clean:
	rm -rf .build .build-test Fuzz/.build-fuzz

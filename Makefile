# Two entry points for a newcomer: `make demo` and `make test`. Each installs what it needs into .venv.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
# CPU build of torch; a GPU user installs their CUDA torch into .venv first (see README).
TORCH ?= torch==2.13.0

.PHONY: install players demo test test-slow ablation bench-diffsynth clean

$(BIN)/vectorwan: pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/pip install -q $(TORCH)
	$(BIN)/pip install -q -e '.[test]'
	touch $(BIN)/vectorwan

install: $(BIN)/vectorwan

# the real Lottie players the tests drive: Debian's chromium + lottie-web/puppeteer-core (tests/players);
# rlottie-python comes with '.[test]'. Without chromium (no root) the lottie-web tests skip.
players: tests/players/node_modules/.installed
	@command -v chromium >/dev/null || apt-get install -y -q chromium >/dev/null \
		|| (apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null) \
		|| echo "note: could not install chromium; the lottie-web tests will skip"

tests/players/node_modules/.installed: tests/players/package.json tests/players/package-lock.json
	@if npm ci --prefix tests/players --no-audit --no-fund --loglevel=error; then touch $@; \
	else echo "note: npm ci failed (no node/npm or no registry); the browser player tests will skip"; fi

demo: install
	$(BIN)/python -m vectorwan demo --out runs/demo

# the layer-wise vector supervision, measured (docs/losses.md): the character recipe on the toy base,
# 5 trigger prompts × 20 paired seeds. On the 16 stills: plain LoRA vs rank 4 vs each term vs all three;
# plain vs colour again on seeds 9400-9419; the terms at low noise (vector_loss.noise=low) on 9600-9619 and
# again on 9700-9719; on the stills plus 10 clips of the character moving (the motion term needs clips):
# plain vs motion vs all. About 35 min on 2 cores; resumable (a rerun does only what is missing: remove a
# variant's folder to train it again).
ABLATION := runs/ablation
ABLATE := $(BIN)/vectorwan ablate configs/toy_character.toml --seeds 20
ablation: install
	test -f $(ABLATION)/data/metadata.csv || $(BIN)/vectorwan toy character $(ABLATION)/data
	$(ABLATE) --set data.path=\"$(ABLATION)/data\" --out $(ABLATION) \
		--variant "plain:" --variant "rank4: lora.rank=4 lora.alpha=4.0" \
		--variant "shape: vector_loss.shape=0.5" --variant "colour: vector_loss.colour=5" \
		--variant "all: vector_loss.shape=0.5 vector_loss.colour=5 vector_loss.motion=1"
	$(ABLATE) --set data.path=\"$(ABLATION)/data\" --out $(ABLATION)-9400 --first-seed 9400 \
		--variant "plain:" --variant "colour: vector_loss.colour=5"
	$(ABLATE) --set data.path=\"$(ABLATION)/data\" --out $(ABLATION)-low --first-seed 9600 --variant "plain:" \
		--variant "shape-low: vector_loss.shape=2.2 vector_loss.noise=low" \
		--variant "colour-low: vector_loss.colour=22 vector_loss.noise=low" \
		--variant "both-low: vector_loss.shape=2.2 vector_loss.colour=22 vector_loss.noise=low"
	$(ABLATE) --set data.path=\"$(ABLATION)/data\" --out $(ABLATION)-low-9700 --first-seed 9700 --variant "plain:" \
		--variant "colour-low: vector_loss.colour=22 vector_loss.noise=low" \
		--variant "both-low: vector_loss.shape=2.2 vector_loss.colour=22 vector_loss.noise=low"
	test -f $(ABLATION)/clips-data/metadata.csv || $(BIN)/vectorwan toy character $(ABLATION)/clips-data --clips 10
	$(ABLATE) --set data.path=\"$(ABLATION)/clips-data\" --set data.num_frames=17 --out $(ABLATION)/clips \
		--variant "plain:" --variant "motion: vector_loss.motion=1" \
		--variant "all: vector_loss.shape=0.5 vector_loss.colour=5 vector_loss.motion=1"

test: install players
	$(BIN)/python -m pytest -q

# vectorwan's LoRA step against DiffSynth-Studio's, interleaved in one run (docs/performance.md; about
# 25 min on 2 cores). DiffSynth's DiT only: the wheel without its dependencies, into .bench/diffsynth.
DIFFSYNTH := diffsynth==2.1.12
bench-diffsynth: install
	test -d .bench/diffsynth/diffsynth || $(BIN)/pip install -q --no-deps --target .bench/diffsynth $(DIFFSYNTH) einops==0.8.2
	$(BIN)/python benchmarks/bench_diffsynth.py --record benchmarks/results/diffsynth_cpu.jsonl

test-slow: install players
	$(BIN)/python -m pytest -q -m slow

clean:
	rm -rf runs .pytest_cache

#!/usr/bin/env bash
# The LibriSpeech recipe's whole chain on a corpus synthesized offline: the recipe's smoke test,
# run by the test suite (tests/integration/test_recipes.py).
#
#   scripts/demo_recipe.sh                        # tiny random wav2vec 2.0, 100 utterances -> recipe-demo/
#   scripts/demo_recipe.sh MODEL=tiny:hubert N=200 OUT=demo-hubert
#   scripts/demo_recipe.sh --help
#
# Variables are NAME=VALUE arguments or environment variables (arguments win).
set -euo pipefail

RECIPE_NAME=demo_recipe.sh
RECIPE_SUMMARY="Usage: scripts/demo_recipe.sh [NAME=VALUE]...

Synthesize an English corpus with eSpeak NG (layerprobe corpus synth: train/dev/test with exact
phone and word timings) into OUT/corpus, then run the LibriSpeech recipe's chain on it: data
samples, extraction, every CCA, MI and word-similarity experiment over all layers, and layer-trend
plots into OUT/results and OUT/plots.  Offline; a minute or two on two cores with the tiny model.

Example:
  scripts/demo_recipe.sh MODEL=tiny:wav2vec2 N=100 OUT=recipe-demo"

# shellcheck source=scripts/recipe_steps.sh
source "$(dirname "${BASH_SOURCE[0]}")/recipe_steps.sh"

: "${MODEL:=tiny:wav2vec2}"
: "${N:=100}"
: "${CORPUS_SEED:=0}"
: "${OUT:=recipe-demo}"
: "${TRAIN_SPLIT:=train}"
: "${DEV_SPLIT:=dev}"
# A synthesized corpus of a hundred utterances has about 2,500 training phones and 700 words:
# the published 500 / 5000 clusters would outnumber them.
: "${N_CLUSTERS:=50}"

RECIPE_VARIABLES=(
    "N|utterances to synthesize (80 % train, 10 % dev, 10 % test)"
    "CORPUS_SEED|seed of the synthesized corpus"
    "${RECIPE_COMMON_VARIABLES[@]}"
)

recipe_parse_args "$@"
[[ $N =~ ^[1-9][0-9]*$ ]] || recipe_die "N must be a positive integer, got '$N'"
[[ $CORPUS_SEED =~ ^[0-9]+$ ]] || recipe_die "CORPUS_SEED must be a non-negative integer, got '$CORPUS_SEED'"
CORPUS_NAME=demo
recipe_check_common
DATA=$OUT/corpus
RECIPE_CORPUS_OPTIONS=(--format folder)

recipe_step corpus -- lp corpus synth --out "$DATA" --n "$N" --seed "$CORPUS_SEED"
recipe_pipeline

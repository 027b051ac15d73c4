#!/usr/bin/env bash
# The published layer-wise analysis of one model on LibriSpeech, end to end, with the layerprobe CLI:
# data samples, extraction, every CCA / MI / word-similarity experiment over all layers, plots.
#
#   scripts/librispeech_recipe.sh MODEL=hf:facebook/wav2vec2-base DATA=/data/LibriSpeech \
#       ALIGNMENTS=/data/librispeech_alignments OUT=runs/wav2vec2-base GLOVE=glove.840B.300d.txt
#   scripts/librispeech_recipe.sh --help          # every variable and its default
#
# Variables are NAME=VALUE arguments or environment variables (arguments win).  A rerun skips
# the steps that finished before; see scripts/recipe_steps.sh.
set -euo pipefail

RECIPE_NAME=librispeech_recipe.sh
RECIPE_SUMMARY="Usage: scripts/librispeech_recipe.sh [NAME=VALUE]...

The published layer-wise analysis of MODEL on LibriSpeech (OpenSLR layout in DATA, alignment
TextGrids in ALIGNMENTS/<split>/<speaker>/<chapter>/<utt>.TextGrid): data samples, extraction of
the local and contextualized layers and the log-mel baseline, every CCA, MI and word-similarity
experiment over all layers, and layer-trend plots.  Everything goes to OUT: data_samples/,
features/, results/{cca,mi,wordsim,awd,segment}.csv, plots/{cca,mi,wordsim,awd,segment}.png (and .pdf), jobs/.

Example:
  scripts/librispeech_recipe.sh MODEL=hf:facebook/wav2vec2-base DATA=/data/LibriSpeech \\
      ALIGNMENTS=/data/librispeech_alignments OUT=runs/wav2vec2-base LAUNCHER=submitit \\
      LAUNCHER_OPTS='--cluster slurm --partition gpu --gpus 1' DEVICE=cuda"

# shellcheck source=scripts/recipe_steps.sh
source "$(dirname "${BASH_SOURCE[0]}")/recipe_steps.sh"

: "${MODEL:=hf:facebook/wav2vec2-base}"
: "${DATA:=LibriSpeech}"
: "${ALIGNMENTS:=librispeech_alignments}"
: "${CORPUS_NAME:=}"
: "${OUT:=librispeech-recipe}"
: "${TRAIN_SPLIT:=train-clean-100}"
: "${DEV_SPLIT:=dev-clean}"

RECIPE_VARIABLES=(
    "DATA|the LibriSpeech directory (split folders dev-clean, train-clean-100, ...)"
    "ALIGNMENTS|the LibriSpeech alignment TextGrids (split/speaker/chapter/utt.TextGrid)"
    "CORPUS_NAME|corpus name in output paths (empty: the name of DATA)"
    "${RECIPE_COMMON_VARIABLES[@]}"
)

recipe_parse_args "$@"
[[ -d $DATA ]] || recipe_die "DATA: no such directory '$DATA' (the LibriSpeech folder with dev-clean, train-clean-100, ...)"
[[ -d $ALIGNMENTS ]] || recipe_die "ALIGNMENTS: no such directory '$ALIGNMENTS' (the alignment TextGrids)"
for split in "$TRAIN_SPLIT" "$DEV_SPLIT"; do
    [[ -d $DATA/$split ]] || recipe_die "DATA has no split folder '$split' ($DATA/$split)"
done
CORPUS_NAME=${CORPUS_NAME:-$(basename "$(cd "$DATA" && pwd)")}
DATA=$(cd "$DATA" && pwd)
ALIGNMENTS=$(cd "$ALIGNMENTS" && pwd)
recipe_check_common
RECIPE_CORPUS_OPTIONS=(--format librispeech --alignments "$ALIGNMENTS")

recipe_pipeline

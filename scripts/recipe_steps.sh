# shellcheck shell=bash
# The steps of the layer-wise analysis recipes, shared by librispeech_recipe.sh and demo_recipe.sh
# (sourced, not run).  Every step runs `layerprobe` commands; nothing here computes anything.
#
# The published pipeline for one model (REFERENCE.md, DESIGN.md):
#   data samples   DEV_SPLIT frames (cca_mel, cca_intra); DEV_SPLIT phones (cca_phone, and the
#                  evaluation side of mi_phone); TRAIN_SPLIT phones (mi_phone's k-means);
#                  TRAIN_SPLIT words (mi_word's k-means, wordvec/wordsim, awd) and DEV_SPLIT words with
#                  the training sample's words (cca_word, cca_agwe, cca_glove, mi_word); TRAIN_SPLIT
#                  frames (segment's grid search, scored on the DEV_SPLIT frames)
#                  all_words (every word a word-attribute oracle has, up to 200 instances each:
#                  cca_semantic, cca_syntactic; asked for by name in EXPERIMENTS, not run by default)
#   extraction     local + contextualized frames and the log-mel baseline of the DEV_SPLIT frame
#                  sample; contextualized phones and words of the phone and word samples;
#                  contextualized frames of the TRAIN_SPLIT frame sample (segment)
#   analyses       every CCA experiment over all layers, mi_phone and mi_word (k-means fitted on
#                  TRAIN_SPLIT, scored on DEV_SPLIT, for each of MI_ITERS), word vectors and word
#                  similarity, acoustic word discrimination (awd), word segmentation (segment: tuned
#                  on TRAIN_SPLIT, scored on DEV_SPLIT)
#   plots          one layer-trend figure per result table (PNG + PDF)
# Only the samples, stores and analyses that the chosen EXPERIMENTS need are made.
#
# Reruns are cheap: a step that finished before with the same command (and, for plots, the same
# result tables) and whose outputs are still there is skipped.  The record of finished steps is
# OUT/.recipe/; delete a file in it (or all of it) to run steps again.  Extraction refuses to
# replace a complete store that the recipe did not record (one made by hand, or before the record
# was deleted): delete that store, or keep the record.

if ((BASH_VERSINFO[0] < 4 || (BASH_VERSINFO[0] == 4 && BASH_VERSINFO[1] < 4))); then
    echo "the layerprobe recipes need bash 4.4 or newer (this is bash $BASH_VERSION)" >&2
    exit 1
fi

# The experiments a recipe can run, in the order it runs them.
RECIPE_ALL_EXPERIMENTS="cca_mel cca_intra cca_phone cca_word cca_agwe cca_glove mi_phone mi_word wordsim awd segment cca_semantic cca_syntactic"
# The experiments run when EXPERIMENTS is not given: all but the all-words ones (a second, larger
# word sample of TRAIN_SPLIT; on LibriSpeech tens of thousands of words).
RECIPE_DEFAULT_EXPERIMENTS="cca_mel cca_intra cca_phone cca_word cca_agwe cca_glove mi_phone mi_word wordsim awd segment"

# Variables every recipe takes (NAME=VALUE arguments or the environment), each with its meaning.
# shellcheck disable=SC2034  # used by the recipes that source this file
RECIPE_COMMON_VARIABLES=(
    "MODEL|model spec: hf:ID_OR_DIR, fairseq:CKPT.pt, tiny:FAMILY"
    "OUT|directory of everything the recipe writes"
    "TRAIN_SPLIT|split whose phone and word samples fit mi_*'s k-means and give the word vectors"
    "DEV_SPLIT|split of the frame, phone and word samples the analyses score"
    "SAMPLE|data-sample id k"
    "SEED|seed of the CCA splits and of the word-vector instance choice"
    "EXPERIMENTS|experiments to run (space-separated subset of: $RECIPE_ALL_EXPERIMENTS)"
    "GLOVE|GloVe (or word2vec) vectors for cca_glove; cca_glove is skipped without it"
    "SEMANTIC_ORACLE|QVEC supersense oracle file for cca_semantic (empty: built from Debian's wordnet-sense-index; skipped without either)"
    "SYNTACTIC_ORACLE|QVEC POS oracle file for cca_syntactic (empty: built from Debian's liblingua-en-tagger-perl; skipped without either)"
    "AGWE|acoustically grounded word embeddings for cca_agwe; cca_agwe is skipped without it"
    "MI_ITERS|k-means iterations (seeds) of mi_phone / mi_word: 0, 0-4, 0,2,5"
    "N_CLUSTERS|k-means clusters of both mi_phone and mi_word (empty: layerprobe's 500 for phones, 5000 for words)"
    "N_CLUSTERS_PHONE|k-means clusters of mi_phone (wins over N_CLUSTERS)"
    "N_CLUSTERS_WORD|k-means clusters of mi_word (wins over N_CLUSTERS)"
    "BENCHMARKS|word-similarity benchmarks, space-separated names or files (empty: wordsim353 and simlex999)"
    "DEVICE|device of extraction and k-means: cpu, cuda, cuda:1"
    "LAUNCHER|none, or submitit: extraction as SHARDS jobs (then layerprobe merge), a job per layer for cca and mi"
    "SHARDS|LAUNCHER=submitit: shard jobs per extraction"
    "LAUNCHER_OPTS|LAUNCHER=submitit: more launcher options, e.g. '--cluster slurm --partition gpu --gpus 1'"
    "SAMPLE_OPTS|more options for every 'layerprobe sample', e.g. '--n-utterances 200'"
    "STS_DATASET|a spoken-STS dataset (Hugging Face parquet / save_to_disk, published layout): adds spoken_sts (empty: none)"
    "STS_SPLIT|its split (default test)"
    "SAMPLES_DIR|directory of the data-sample sets (empty: OUT/data_samples)"
    "LAYERPROBE|the command that runs layerprobe, e.g. 'python -m layerprobe'"
)

recipe_die() {
    echo "${RECIPE_NAME}: error: $*" >&2
    exit 1
}

recipe_usage() {
    # Usage text: the recipe's own summary, then every variable with its current default.
    local entry name meaning
    printf '%s\n\n' "$RECIPE_SUMMARY"
    echo "Variables (NAME=VALUE arguments, or the environment; defaults in brackets):"
    for entry in "${RECIPE_VARIABLES[@]}"; do
        name=${entry%%|*}
        meaning=${entry#*|}
        printf '  %-17s %s [%s]\n' "$name" "$meaning" "${!name-}"
    done
}

recipe_parse_args() {
    # NAME=VALUE arguments for the declared variables; -h/--help prints the usage.
    local arg name entry known
    for arg in "$@"; do
        case $arg in
            -h | --help)
                recipe_usage
                exit 0
                ;;
            *=*)
                name=${arg%%=*}
                known=0
                for entry in "${RECIPE_VARIABLES[@]}"; do
                    [[ ${entry%%|*} == "$name" ]] && known=1
                done
                ((known)) || recipe_die "unknown variable '$name' (see --help)"
                printf -v "$name" '%s' "${arg#*=}"
                ;;
            *)
                recipe_die "unexpected argument '$arg': give NAME=VALUE (see --help)"
                ;;
        esac
    done
}

recipe_check_common() {
    # Check the common variables and derive the recipe's directories (all absolute).
    local name
    [[ -n $MODEL ]] || recipe_die "MODEL is empty"
    [[ -n $OUT ]] || recipe_die "OUT is empty"
    [[ $SAMPLE =~ ^[0-9]+$ ]] || recipe_die "SAMPLE must be a non-negative integer, got '$SAMPLE'"
    [[ $SEED =~ ^[0-9]+$ ]] || recipe_die "SEED must be a non-negative integer, got '$SEED'"
    [[ $SHARDS =~ ^[1-9][0-9]*$ ]] || recipe_die "SHARDS must be a positive integer, got '$SHARDS'"
    [[ $LAUNCHER == none || $LAUNCHER == submitit ]] || recipe_die "LAUNCHER must be none or submitit, got '$LAUNCHER'"
    [[ $CORPUS_NAME =~ ^[A-Za-z0-9][A-Za-z0-9._-]*$ ]] ||
        recipe_die "CORPUS_NAME '$CORPUS_NAME' must be letters, digits, '.', '_' and '-'"
    for name in TRAIN_SPLIT DEV_SPLIT; do
        [[ ${!name} =~ ^[A-Za-z0-9][A-Za-z0-9._-]*$ ]] || recipe_die "$name '${!name}' is not a split name"
    done
    for name in $N_CLUSTERS $N_CLUSTERS_PHONE $N_CLUSTERS_WORD; do
        [[ $name =~ ^[1-9][0-9]*$ ]] || recipe_die "cluster counts must be positive integers, got '$name'"
    done
    for name in $EXPERIMENTS; do
        [[ " $RECIPE_ALL_EXPERIMENTS " == *" $name "* ]] ||
            recipe_die "unknown experiment '$name' in EXPERIMENTS (known: $RECIPE_ALL_EXPERIMENTS)"
    done
    [[ -n ${EXPERIMENTS// /} ]] || recipe_die "EXPERIMENTS is empty"
    for name in GLOVE AGWE SEMANTIC_ORACLE SYNTACTIC_ORACLE; do
        if [[ -n ${!name} ]]; then
            [[ -f ${!name} ]] || recipe_die "$name: no such file '${!name}'"
            printf -v "$name" '%s/%s' "$(cd "$(dirname "${!name}")" && pwd)" "$(basename "${!name}")"
        fi
    done
    read -r -a RECIPE_LP <<<"$LAYERPROBE"
    read -r -a RECIPE_SAMPLE_OPTS <<<"$SAMPLE_OPTS"
    read -r -a RECIPE_LAUNCHER_OPTS <<<"$LAUNCHER_OPTS"
    ((${#RECIPE_LP[@]})) || recipe_die "LAYERPROBE is empty"
    command -v "${RECIPE_LP[0]}" >/dev/null || recipe_die "cannot run '${RECIPE_LP[0]}' (LAYERPROBE): is layerprobe installed?"
    mkdir -p "$OUT"
    OUT=$(cd "$OUT" && pwd)
    SAMPLES_DIR=${SAMPLES_DIR:-$OUT/data_samples}
    mkdir -p "$SAMPLES_DIR"
    SAMPLES_DIR=$(cd "$SAMPLES_DIR" && pwd)
    FEATURES=$OUT/features
    RESULTS=$OUT/results
    PLOTS=$OUT/plots
    JOBS=$OUT/jobs
    RECIPE_STATE=$OUT/.recipe
    mkdir -p "$RECIPE_STATE"
    RECIPE_ANALYSIS_LAUNCH=()  # the options that put cca and mi on the launcher, a job per layer
    if [[ $LAUNCHER == submitit ]]; then
        RECIPE_ANALYSIS_LAUNCH=(--launcher submitit --jobs-dir "$JOBS" "${RECIPE_LAUNCHER_OPTS[@]}")
    fi
}

lp() {
    "${RECIPE_LP[@]}" "$@"
}

recipe_say() {
    echo "== $*"
}

recipe_step() {
    # recipe_step NAME [--input FILE]... -- COMMAND...
    # Run COMMAND unless it finished before with the same arguments and inputs and its outputs
    # (the paths it printed after '->') are all still there.
    local name=$1
    shift
    local inputs=()
    while [[ $1 == --input ]]; do
        inputs+=("$2")
        shift 2
    done
    [[ $1 == -- ]] && shift
    local key input stamp log
    key="command: $(printf '%q ' "$@")"
    for input in "${inputs[@]}"; do
        key+=$'\n'"input: $(cksum <"$input") $input"
    done
    stamp="$RECIPE_STATE/$name.$(printf '%s' "$key" | cksum | cut -d' ' -f1).done"
    if [[ -f $stamp ]] && recipe_outputs_exist "$stamp"; then
        recipe_say "$name: done before, skipped"
        return 0
    fi
    recipe_say "$name"
    log=$(mktemp)
    if ! "$@" | tee "$log"; then
        rm -f "$log"
        recipe_die "step $name failed: $*"
    fi
    {
        printf '%s\n' "$key"
        sed -n 's/.* -> //p' "$log" | tr ',' '\n' | sed -e 's/^ *//' -e '/^$/d' -e 's/^/output: /'
    } >"$stamp.tmp"
    mv "$stamp.tmp" "$stamp"
    rm -f "$log"
}

recipe_outputs_exist() {
    local line path
    while IFS= read -r line; do
        path=${line#output: }
        [[ $line == output:* && ! -e $path ]] && return 1
    done <"$1"
    return 0
}

recipe_wants() {
    local name
    for name in "$@"; do
        [[ " $EXPERIMENTS " == *" $name "* ]] && return 0
    done
    return 1
}

recipe_sample() {
    # recipe_sample SPLIT SPAN [OPTION...]
    local split=$1 span=$2
    shift 2
    recipe_step "sample-$split-$span" -- lp sample --corpus "$DATA" "${RECIPE_CORPUS_OPTIONS[@]}" \
        --corpus-name "$CORPUS_NAME" --split "$split" --span "$span" --sample "$SAMPLE" \
        --out "$SAMPLES_DIR" "$@" "${RECIPE_SAMPLE_OPTS[@]}"
}

recipe_manifest() {
    echo "$SAMPLES_DIR/$CORPUS_NAME/${1}_${2}_sample$SAMPLE.json"
}

recipe_extract() {
    # recipe_extract SPLIT SPAN REP: one store (with LAUNCHER=submitit: shard jobs, then merged).
    local split=$1 span=$2 rep=$3 model_options=(--model "$MODEL") command
    if [[ $rep == mel ]]; then
        model_options=()
    fi
    command=(lp extract "${model_options[@]}" --corpus "$CORPUS_NAME" --split "$split" --span "$span"
        --sample "$SAMPLE" --rep "$rep" --samples-dir "$SAMPLES_DIR" --out "$FEATURES" --device "$DEVICE")
    if [[ $LAUNCHER == submitit ]]; then
        command=(recipe_extract_shards "$split" "${command[@]}" --launcher submitit --shards "$SHARDS"
            --jobs-dir "$JOBS" "${RECIPE_LAUNCHER_OPTS[@]}")
    fi
    recipe_step "extract-$split-$span-$rep" --input "$(recipe_manifest "$split" "$span")" -- "${command[@]}"
}

recipe_extract_shards() {
    # recipe_extract_shards SPLIT EXTRACT-COMMAND...: run the shard jobs, then merge the shards.
    # The shard files are removed once merged, so only the merge's output (the store) goes to
    # stdout, where recipe_step reads the step's outputs from.
    local split=$1 dir
    shift
    "$@" >&2 || return 1
    for dir in "$FEATURES"/*/"${CORPUS_NAME}_${split}_sample$SAMPLE"; do
        if compgen -G "$dir/*.shard-*-of-*.h5" >/dev/null; then
            lp merge "$dir" --remove-shards || return 1
        fi
    done
}

recipe_sts() {
    # Spoken sentence similarity on its own dataset (STS_DATASET: a Hugging Face dataset in the
    # published layout, split STS_SPLIT): every utterance, a contextualized frame store, spoken_sts rows.
    local name split=${STS_SPLIT:-test}
    name=$(basename "$STS_DATASET")
    recipe_step "sample-sts" -- lp sample --corpus "$STS_DATASET" --format hf --split "$split" --span frame \
        --sample "$SAMPLE" --n-utterances 1000000 --out "$SAMPLES_DIR"
    recipe_step "extract-sts" -- lp extract --model "$MODEL" --corpus "$name" --split "$split" --span frame \
        --sample "$SAMPLE" --rep contextualized --samples-dir "$SAMPLES_DIR" --out "$FEATURES" --device "$DEVICE"
    recipe_step "spoken_sts" -- lp sts --model "$MODEL" --corpus "$name" --split "$split" --sample "$SAMPLE" \
        --layers all --features "$FEATURES" --out "$RESULTS/sts.csv" "${RECIPE_ANALYSIS_LAUNCH[@]}"
}

recipe_cca() {
    # recipe_cca EXPERIMENT [OPTION...]
    local experiment=$1
    shift
    recipe_step "$experiment" -- lp cca --exp "$experiment" --model "$MODEL" --corpus "$CORPUS_NAME" \
        --split "$DEV_SPLIT" --sample "$SAMPLE" --layers all --features "$FEATURES" --seed "$SEED" \
        --out "$RESULTS/cca.csv" "$@" "${RECIPE_ANALYSIS_LAUNCH[@]}"
}

recipe_cca_train() {
    # recipe_cca_train EXPERIMENT [OPTION...]: cca_semantic / cca_syntactic on TRAIN_SPLIT's all_words store.
    local experiment=$1
    shift
    recipe_step "$experiment" -- lp cca --exp "$experiment" --model "$MODEL" --corpus "$CORPUS_NAME" \
        --split "$TRAIN_SPLIT" --sample "$SAMPLE" --layers all --features "$FEATURES" --seed "$SEED" \
        --out "$RESULTS/cca.csv" "$@" "${RECIPE_ANALYSIS_LAUNCH[@]}"
}

recipe_mi() {
    # recipe_mi SPAN CLUSTERS
    local span=$1 clusters=$2 cluster_options=()
    if [[ -n $clusters ]]; then
        cluster_options=(--n-clusters "$clusters")
    fi
    recipe_step "mi_$span" -- lp mi --span "$span" --model "$MODEL" --corpus "$CORPUS_NAME" \
        --train-split "$TRAIN_SPLIT" --eval-split "$DEV_SPLIT" --sample "$SAMPLE" --layers all \
        --iters "$MI_ITERS" "${cluster_options[@]}" --device "$DEVICE" --features "$FEATURES" \
        --out "$RESULTS/mi.csv" "${RECIPE_ANALYSIS_LAUNCH[@]}"
}

recipe_plot() {
    # recipe_plot TABLE METRIC: one figure of every experiment in OUT/results/TABLE.csv.
    local table=$1 metric=$2
    [[ -f $RESULTS/$table.csv ]] || return 0
    recipe_step "plot-$table" --input "$RESULTS/$table.csv" -- lp plot "$RESULTS/$table.csv" --metric "$metric" \
        --out "$PLOTS/$table.png"
}

recipe_pipeline() {
    # Run the chosen EXPERIMENTS on the corpus DATA (read with RECIPE_CORPUS_OPTIONS).
    local experiment benchmark benchmark_options=() dev_word_options oracle_options
    if recipe_wants cca_glove && [[ -z $GLOVE ]]; then
        recipe_say "cca_glove: skipped (give GLOVE=vectors.txt to run it)"
        EXPERIMENTS=${EXPERIMENTS//cca_glove/}
    fi
    if recipe_wants cca_agwe && [[ -z $AGWE ]]; then
        recipe_say "cca_agwe: skipped (give AGWE=vectors.txt to run it)"
        EXPERIMENTS=${EXPERIMENTS//cca_agwe/}
    fi
    if recipe_wants cca_semantic && [[ -z $SEMANTIC_ORACLE && ! -f /usr/share/wordnet/index.sense ]]; then
        recipe_say "cca_semantic: skipped (install Debian's wordnet-base and wordnet-sense-index, or give SEMANTIC_ORACLE=qvec-file)"
        EXPERIMENTS=${EXPERIMENTS//cca_semantic/}
    fi
    if recipe_wants cca_syntactic && [[ -z $SYNTACTIC_ORACLE && ! -f /usr/share/perl5/Lingua/EN/Tagger/words.yml ]]; then
        recipe_say "cca_syntactic: skipped (install Debian's liblingua-en-tagger-perl, or give SYNTACTIC_ORACLE=qvec-file)"
        EXPERIMENTS=${EXPERIMENTS//cca_syntactic/}
    fi
    [[ -n ${EXPERIMENTS// /} ]] || recipe_die "nothing left to run in EXPERIMENTS"
    recipe_say "$RECIPE_NAME: $MODEL on $DATA ($TRAIN_SPLIT / $DEV_SPLIT, sample $SAMPLE) -> $OUT"
    read -r -a RECIPE_EXPERIMENTS <<<"$EXPERIMENTS"
    recipe_say "experiments: ${RECIPE_EXPERIMENTS[*]}"

    # 1. data samples
    # (if-statements throughout, not '&&' lists: bash ignores set -e inside a function called there)
    if recipe_wants cca_mel cca_intra segment; then
        recipe_sample "$DEV_SPLIT" frame
    fi
    if recipe_wants segment; then
        recipe_sample "$TRAIN_SPLIT" frame
    fi
    if recipe_wants cca_phone mi_phone; then
        recipe_sample "$DEV_SPLIT" phone
    fi
    if recipe_wants mi_phone; then
        recipe_sample "$TRAIN_SPLIT" phone
    fi
    if recipe_wants cca_word cca_agwe cca_glove mi_word wordsim awd; then
        recipe_sample "$TRAIN_SPLIT" word
    fi
    if recipe_wants cca_word cca_agwe cca_glove mi_word; then
        dev_word_options=(--labels-from "$(recipe_manifest "$TRAIN_SPLIT" word)")
        recipe_sample "$DEV_SPLIT" word "${dev_word_options[@]}"
    fi
    if recipe_wants cca_semantic cca_syntactic; then
        # the vocabulary: the words of the experiments' oracles (both: the published union)
        oracle_options=()
        if recipe_wants cca_semantic; then
            oracle_options+=(--oracle "${SEMANTIC_ORACLE:-semantic}")
        fi
        if recipe_wants cca_syntactic; then
            oracle_options+=(--oracle "${SYNTACTIC_ORACLE:-syntactic}")
        fi
        recipe_sample "$TRAIN_SPLIT" all_words "${oracle_options[@]}"
    fi

    # 2. extraction: each store once, whichever experiments share it
    if recipe_wants cca_mel cca_intra segment; then
        recipe_extract "$DEV_SPLIT" frame contextualized
    fi
    if recipe_wants segment; then
        recipe_extract "$TRAIN_SPLIT" frame contextualized
    fi
    if recipe_wants cca_mel; then
        recipe_extract "$DEV_SPLIT" frame local
        recipe_extract "$DEV_SPLIT" frame mel
    fi
    if recipe_wants cca_phone mi_phone; then
        recipe_extract "$DEV_SPLIT" phone contextualized
    fi
    if recipe_wants mi_phone; then
        recipe_extract "$TRAIN_SPLIT" phone contextualized
    fi
    if recipe_wants cca_word cca_agwe cca_glove mi_word; then
        recipe_extract "$DEV_SPLIT" word contextualized
    fi
    if recipe_wants mi_word wordsim awd; then
        recipe_extract "$TRAIN_SPLIT" word contextualized
    fi
    if recipe_wants cca_semantic cca_syntactic; then
        recipe_extract "$TRAIN_SPLIT" all_words contextualized
    fi

    # 3. analyses over all layers
    for experiment in cca_mel cca_intra cca_phone cca_word; do
        if recipe_wants "$experiment"; then
            recipe_cca "$experiment"
        fi
    done
    if recipe_wants cca_agwe; then
        recipe_cca cca_agwe --embeddings "$AGWE"
    fi
    if recipe_wants cca_glove; then
        recipe_cca cca_glove --embeddings "$GLOVE"
    fi
    if recipe_wants cca_semantic; then
        recipe_cca_train cca_semantic ${SEMANTIC_ORACLE:+--oracle "$SEMANTIC_ORACLE"}
    fi
    if recipe_wants cca_syntactic; then
        recipe_cca_train cca_syntactic ${SYNTACTIC_ORACLE:+--oracle "$SYNTACTIC_ORACLE"}
    fi
    if recipe_wants mi_phone; then
        recipe_mi phone "${N_CLUSTERS_PHONE:-$N_CLUSTERS}"
    fi
    if recipe_wants mi_word; then
        recipe_mi word "${N_CLUSTERS_WORD:-$N_CLUSTERS}"
    fi
    if recipe_wants wordsim; then
        for benchmark in $BENCHMARKS; do
            benchmark_options+=(--benchmark "$benchmark")
        done
        recipe_step "wordvec" -- lp wordvec --model "$MODEL" --corpus "$CORPUS_NAME" --split "$TRAIN_SPLIT" \
            --sample "$SAMPLE" --layers all --features "$FEATURES" --seed "$SEED"
        recipe_step "wordsim" -- lp wordsim --model "$MODEL" --corpus "$CORPUS_NAME" --split "$TRAIN_SPLIT" \
            --sample "$SAMPLE" --layers all --features "$FEATURES" --seed "$SEED" "${benchmark_options[@]}" \
            --out "$RESULTS/wordsim.csv"
    fi
    if recipe_wants awd; then
        recipe_step "awd" -- lp awd --model "$MODEL" --corpus "$CORPUS_NAME" --split "$TRAIN_SPLIT" \
            --sample "$SAMPLE" --layers all --features "$FEATURES" --out "$RESULTS/awd.csv"
    fi
    if recipe_wants segment; then
        recipe_step "segment" -- lp segment --model "$MODEL" --corpus "$CORPUS_NAME" --split "$DEV_SPLIT" \
            --tune-split "$TRAIN_SPLIT" --sample "$SAMPLE" --layers all --features "$FEATURES" \
            --samples-dir "$SAMPLES_DIR" --out "$RESULTS/segment.csv" "${RECIPE_ANALYSIS_LAUNCH[@]}"
    fi

    if [[ -n ${STS_DATASET:-} ]]; then
        recipe_sts
    fi

    # 4. layer-trend plots
    recipe_plot cca pwcca
    recipe_plot mi nmi
    recipe_plot wordsim spearman_micro
    recipe_plot awd ap
    recipe_plot segment f1
    if [[ -n ${STS_DATASET:-} ]]; then
        recipe_plot sts spearman
    fi
    recipe_say "done: results in $RESULTS, plots in $PLOTS"
}

# Defaults of the common variables (a recipe sets its own before sourcing, or the user's win).
: "${SAMPLE:=1}"
: "${SEED:=0}"
: "${EXPERIMENTS:=$RECIPE_DEFAULT_EXPERIMENTS}"
: "${GLOVE:=}"
: "${SEMANTIC_ORACLE:=}"
: "${SYNTACTIC_ORACLE:=}"
: "${AGWE:=}"
: "${MI_ITERS:=0}"
: "${N_CLUSTERS:=}"
: "${N_CLUSTERS_PHONE:=}"
: "${N_CLUSTERS_WORD:=}"
: "${BENCHMARKS:=}"
: "${DEVICE:=cpu}"
: "${LAUNCHER:=none}"
: "${SHARDS:=16}"
: "${LAUNCHER_OPTS:=}"
: "${SAMPLE_OPTS:=}"
: "${SAMPLES_DIR:=}"
: "${LAYERPROBE:=layerprobe}"

#!/usr/bin/env bash
# The real-data model family, from a fresh clone (after `npm ci`): the corpus, the tokenizer and the
# pretraining of four sizes. Resumable: rerunning continues each size from its last checkpoint.
#   bash docs/real-data/pretrain.sh [OUT]     (OUT defaults to real-data; the data folder is
#                                              $W2S_DATA_DIR, else ../shared/data)
set -euo pipefail
OUT=${1:-real-data}
DATA=${W2S_DATA_DIR:-../shared/data}
mkdir -p "$OUT/models"

# The training texts of the three datasets, labels dropped; no text that is a test text of any.
npx w2s data corpus sst2 imdb amazon_polarity --data-dir "$DATA" --out "$OUT/corpus.jsonl"
# GPT-2's tokenizer cut to its first 7,935 merges: 8,192 ids.
npx w2s shrink-tokenizer --from "$DATA/tokenizers/gpt2" --vocab-size 8192 --out "$OUT/tokenizer"

# Each size reads 10 M tokens (about one pass over the 10.4 M-token corpus), T 128, B 16, AdamW
# lr 2e-3 with warm-up and cosine decay. Two lanes of one thread each: small alone, and
# nano, micro, mini one after another (on 2 cores this finishes sooner than one lane of 2 threads).
pretrain() {
  npx w2s pretrain --corpus "$OUT/corpus.jsonl" --tokenizer "$OUT/tokenizer" --model "$1" \
    --tokens 10000000 --threads 1 --json --out "$OUT/models/$1" > "$OUT/models/$1.json"
}
pretrain small &
small=$!
pretrain nano && pretrain micro && pretrain mini
wait "$small"

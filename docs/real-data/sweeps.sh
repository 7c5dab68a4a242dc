#!/usr/bin/env bash
# The real-data measurements and weak-to-strong sweeps, after pretrain.sh (from the repository
# root: the sweep files name the models as real-data/models/SIZE). Each finished run is stored
# and reused: rerunning resumes.
#   bash docs/real-data/sweeps.sh        (the data folder is $W2S_DATA_DIR, else ../shared/data)
set -euo pipefail
export W2S_DATA_DIR=${W2S_DATA_DIR:-../shared/data}
OUT=real-data

# Random-initialisation twins of nano and mini: one step at learning rate 0 saves the initial
# weights (seed 0's, whatever the corpus; skipped where a twin exists).
for size in nano mini; do
  [ -f "$OUT/random/$size/model.safetensors" ] && continue
  npx w2s pretrain --corpus "$OUT/corpus.jsonl" --tokenizer "$OUT/tokenizer" --model "$size" \
    --lr 0 --tokens 2048 --threads 1 --json --out "$OUT/random/$size" > /dev/null
done

sweep() { npx w2s sweep --config "docs/real-data/$1.json" --out "$OUT/sweeps/$2" --workers 2 --threads 1; }
sweep sweep-probes probes                        # linear probes of all four sizes (nano->micro, mini->small), 3 seeds
sweep sweep-finetune finetune                    # the weak-to-strong sweep: nano, micro -> mini, xent and logconf
sweep sweep-finetune-small finetune-small        # small as the strong model on SST-2: nano, micro -> small
sweep sweep-finetune-small-xent finetune-small   # and on IMDB and Amazon: nano -> small, xent
sweep sweep-random random                        # finetuning at random initialisation: nano -> mini

for s in probes finetune finetune-small random; do
  npx w2s report "$OUT/sweeps/$s" --out "docs/real-data/report/$s"
done

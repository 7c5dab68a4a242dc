// How closely the transfer students follow their weak supervisor, against how closely the strong
// ceiling does: per dataset, pair and loss, the median over seeds of the fraction of test examples
// on which two runs predict the same class, from the runs' stored test predictions.
//   node docs/real-data/agreement.mjs real-data/sweeps/finetune real-data/models/nano real-data/models/micro real-data/models/mini
// (each model named by its folder's last name; run from the repository root after `npm run build`).
//
// Runs are matched by their configurations, as the sweep planned them (packages/pipeline
// experiment.ts, planExperiment), never by role, dataset, seed and model alone, so that a store
// holding runs of other sweeps or settings cannot pair the wrong ones:
// - a transfer's weak run is its supervisor, whose whole configuration its config.json holds: the
//   folder runName(supervisor) (dataset-role-hash of that configuration);
// - its ceiling is the run of the same configuration with role 'ceiling', the ground truth (the weak
//   run's loss) on train2 and no supervisor: the folder runName of that configuration.
// Only transfers supervised directly by a weak run on train2 are counted (not the links of a
// strong-to-strong or bootstrapping chain). Transfers whose weak or ceiling run is missing or
// incomplete are named on stderr and left out. Runs of one (dataset, pair, loss) that differ in
// other settings (training, data, loss options) are not pooled: each group of settings is its own
// row, labelled with a hash of those settings, and a note on stderr says so.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { configHash, resolveModel, runName } from '@w2s/pipeline';

const [store, ...models] = process.argv.slice(2);
if (!store || models.length === 0) throw new Error('usage: node docs/real-data/agreement.mjs STORE MODEL_DIR...');
const nameOf = new Map();
for (const dir of models) nameOf.set((await resolveModel(dir)).identity, basename(dir));
const modelName = (m) => nameOf.get(m.identity) ?? m.identity;
const read = (dir, file) => JSON.parse(readFileSync(`${store}/runs/${dir}/${file}`, 'utf8'));
const complete = (dir) => existsSync(`${store}/runs/${dir}/predictions.json`) && existsSync(`${store}/runs/${dir}/metrics.json`);

/** p(label 1) > 0.5 on the run's test examples, by id; read once per run. */
const positives = new Map();
const positive = (dir) => {
  if (!positives.has(dir)) {
    const { ids, probs } = read(dir, 'predictions.json');
    positives.set(dir, new Map(ids.map((id, i) => [id, (Array.isArray(probs[i]) ? probs[i][1] : probs[i]) > 0.5])));
  }
  return positives.get(dir);
};
const agreement = (a, b) => {
  const [pa, pb] = [positive(a), positive(b)];
  let same = 0;
  for (const [id, p] of pa) same += pb.get(id) === p ? 1 : 0;
  return same / pa.size;
};
/** The configuration with its seeds (the run's and its data's) left out: what the seeds of one setting share. */
const unseeded = (c) => c && { ...c, seed: null, dataset: { ...c.dataset, seed: null }, supervisor: unseeded(c.supervisor) };

const groups = new Map(); // dataset, pair, loss -> settings hash -> [[student agrees, ceiling agrees], ...]
const missing = [];
for (const dir of readdirSync(`${store}/runs`).sort()) {
  if (!complete(dir)) continue;
  const t = read(dir, 'config.json');
  if (t.role !== 'transfer' || t.supervisor?.role !== 'weak' || t.trainSplit !== 'train2') continue;
  const weak = runName(t.supervisor);
  const ceiling = runName({ ...t, role: 'ceiling', supervisor: null, loss: t.supervisor.loss });
  const absent = [weak, ceiling].filter((d) => !complete(d));
  if (absent.length > 0) {
    missing.push(`${dir}: no complete ${absent.join(', ')}`);
    continue;
  }
  const key = `${t.dataset.name}\t${modelName(t.supervisor.model)} -> ${modelName(t.model)}\t${t.loss.name}`;
  const settings = configHash(unseeded(t)).slice(0, 8);
  const bySettings = groups.get(key) ?? new Map();
  groups.set(key, bySettings.set(settings, [...(bySettings.get(settings) ?? []), [agreement(dir, weak), agreement(ceiling, weak)]]));
}
for (const line of missing) console.error(`agreement: left out ${line}`);

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
console.log('dataset\tpair\tloss\tseeds\tstudent agrees with weak\tceiling agrees with weak');
for (const [key, bySettings] of [...groups].sort(([a], [b]) => (a < b ? -1 : 1))) {
  if (bySettings.size > 1)
    console.error(`agreement: ${key.replaceAll('\t', ', ')} was run with ${bySettings.size} different settings: one row each, labelled by a hash of the settings`);
  for (const [settings, v] of bySettings) {
    const label = bySettings.size > 1 ? ` (settings ${settings})` : '';
    console.log(`${key}${label}\t${v.length}\t${median(v.map((x) => x[0])).toFixed(3)}\t${median(v.map((x) => x[1])).toFixed(3)}`);
  }
}

// How closely the transfer students follow their weak supervisor, against how closely the strong
// ceiling does: per dataset, pair and loss, the median over seeds of the fraction of test examples
// on which two runs predict the same class, from the runs' stored test predictions.
//   node docs/real-data/agreement.mjs real-data/sweeps/finetune real-data/models/nano real-data/models/micro real-data/models/mini
// (each model named by its folder's last name; run from the repository root after `npm run build`).
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { resolveModel } from '@w2s/pipeline';

const [store, ...models] = process.argv.slice(2);
if (!store || models.length === 0) throw new Error('usage: node docs/real-data/agreement.mjs STORE MODEL_DIR...');
const nameOf = new Map();
for (const dir of models) nameOf.set((await resolveModel(dir)).identity, basename(dir));
const read = (dir, file) => JSON.parse(readFileSync(`${store}/runs/${dir}/${file}`, 'utf8'));

const runs = readdirSync(`${store}/runs`)
  .filter((dir) => existsSync(`${store}/runs/${dir}/predictions.json`))
  .map((dir) => {
    const config = read(dir, 'config.json');
    const { ids, probs } = read(dir, 'predictions.json');
    const positive = new Map(ids.map((id, i) => [id, (Array.isArray(probs[i]) ? probs[i][1] : probs[i]) > 0.5]));
    const model = (m) => nameOf.get(m.identity) ?? m.identity;
    return { dataset: config.dataset.name, seed: config.dataset.seed, role: config.role, model: model(config.model), supervisor: config.supervisor && model(config.supervisor.model), loss: config.loss?.name, positive };
  });
const agreement = (a, b) => {
  let same = 0;
  for (const [id, p] of a.positive) same += b.positive.get(id) === p ? 1 : 0;
  return same / a.positive.size;
};
const rows = new Map();
for (const t of runs.filter((r) => r.role === 'transfer')) {
  const find = (role, model) => runs.find((r) => r.role === role && r.dataset === t.dataset && r.seed === t.seed && r.model === model);
  const weak = find('weak', t.supervisor);
  const ceiling = find('ceiling', t.model);
  if (!weak || !ceiling) continue;
  const key = `${t.dataset}\t${t.supervisor} -> ${t.model}\t${t.loss}`;
  rows.set(key, [...(rows.get(key) ?? []), [agreement(t, weak), agreement(ceiling, weak)]]);
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
console.log('dataset\tpair\tloss\tseeds\tstudent agrees with weak\tceiling agrees with weak');
for (const [key, v] of [...rows].sort()) console.log(`${key}\t${v.length}\t${median(v.map((x) => x[0])).toFixed(3)}\t${median(v.map((x) => x[1])).toFixed(3)}`);

// Short labels for the models of a report. A summary names each model as it was given, a named
// size or a checkpoint path ("real-data/models/nano"); tables and plots show the shortest ending
// of each path, in whole folder names, that no other model of the report shares ("nano", or
// "models/nano" beside "random/nano"), and the report lists what each label stands for.

/** A label that stands for a longer model name. */
export interface ModelLabel {
  label: string;
  model: string;
}

/** Each model's label: its last k path segments, k the smallest that keeps every label distinct. */
export function shortModelLabels(models: Iterable<string>): Map<string, string> {
  const names = [...new Set(models)];
  const segments = new Map(names.map((name) => [name, name.split('/').filter((s) => s !== '')]));
  const depth = new Map(names.map((name) => [name, 1]));
  const label = (name: string) => {
    const parts = segments.get(name)!;
    return parts.length === 0 ? name : parts.slice(-depth.get(name)!).join('/');
  };
  for (;;) {
    const byLabel = new Map<string, string[]>();
    for (const name of names) byLabel.set(label(name), [...(byLabel.get(label(name)) ?? []), name]);
    const clashing = [...byLabel.values()].filter((group) => group.length > 1).flat();
    const deepen = clashing.filter((name) => depth.get(name)! < segments.get(name)!.length);
    // Whole names are distinct; a clash left once no label can grow ('a/b' against 'a//b') keeps the names.
    if (clashing.length === 0 || deepen.length === 0) return new Map(names.map((name) => [name, clashing.includes(name) ? name : label(name)]));
    for (const name of deepen) depth.set(name, depth.get(name)! + 1);
  }
}

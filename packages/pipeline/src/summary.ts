// What one weak-to-strong experiment produced: the content of `summary.json` (written by
// `w2s run --out DIR` and, one file per experiment, by sweeps) and the input of reports.

/** Scores of one trained model on the test split. */
export interface TestScores {
  /** Fraction of test examples whose argmax prediction equals the ground-truth label. */
  accuracy: number;
  /** Area under the ROC curve of p(label 1) against the ground truth (0.5 when one class is absent). */
  auroc: number;
}

/** How often the student agrees with its supervisor on the test split. */
export interface Agreement {
  /** Over every test example. */
  overall: number;
  /** Over the test examples the supervisor labelled correctly (null when there are none). */
  supervisorRight: number | null;
  /** Over the test examples the supervisor labelled wrongly (null when there are none). */
  supervisorWrong: number | null;
}

export interface ModelResult extends TestScores {
  /** The model as given on the command line: a named size or a checkpoint path. */
  model: string;
  /** The results-store folder of the training run (relative to the store's root). */
  run: string;
}

export interface TransferResult extends TestScores {
  loss: string;
  /** (accuracy − weak) / (ceiling − weak); null when the ceiling is not above the weak model. */
  pgr: number | null;
  agreement: Agreement;
  run: string;
}

export interface ExperimentSummary {
  dataset: string;
  seed: number;
  weak: ModelResult;
  ceiling: ModelResult;
  transfer: TransferResult[];
  /**
   * Example counts of the splits actually used. `testPositives`, the test examples labelled 1, is
   * optional (summaries without it remain valid); reports use it for the AUROC's standard error.
   */
  counts: { train1: number; train2: number; test: number; testPositives?: number };
  /** What loading the dataset kept and skipped (rows skipped by reason; examples removed by balancing). */
  data?: { rows: number; kept: number; skipped: Record<string, number>; balancedAway: number };
}

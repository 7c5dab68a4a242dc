// The options that configure training, shared by `w2s run` (and read from the sweep file's
// "training" and "lossOptions" fields by `w2s sweep`), and their translation into settings.
import { Command, InvalidArgumentError, Option } from 'commander';
import { DEFAULT_LOSS_OPTIONS, DEFAULT_TRAIN_SETTINGS, type LossOptions, type TrainSettings } from '@w2s/pipeline';
import { integerOption, numberOption } from './options.js';

export interface TrainingFlags {
  epochs: number;
  batchSize: number;
  minibatchSize: number;
  lr: number;
  lrSchedule: TrainSettings['lrSchedule'];
  weightDecay: number;
  maxGradNorm: number;
  linearProbe: boolean;
  dropout: number;
  evalEvery: number;
  earlyStopping: TrainSettings['earlyStopping'];
  heldOutFrac: number;
  alphaMax: number;
  warmupFrac: number;
  logconfSchedule: LossOptions['logconf']['schedule'];
  productAlpha: number;
  productBeta: number;
}

const d = DEFAULT_TRAIN_SETTINGS;
const l = DEFAULT_LOSS_OPTIONS;

/** Adds the training options to a command. */
export function addTrainingOptions(command: Command): Command {
  return command
    .option('--epochs <n>', 'passes over the training split', integerOption(1, 10_000), d.epochs)
    .option('--batch-size <n>', 'examples per optimizer step', integerOption(1, 1_000_000), d.batchSize)
    .option('--minibatch-size <n>', 'examples per forward/backward (gradients accumulate over a batch)', integerOption(1, 1_000_000), d.minibatchSize)
    .option('--lr <x>', 'peak learning rate (AdamW)', numberOption(0, 10), d.lr)
    .addOption(new Option('--lr-schedule <kind>', 'learning-rate schedule').choices(['constant', 'cosine', 'warmup-cosine']).default(d.lrSchedule))
    .option('--weight-decay <x>', 'decoupled weight decay', numberOption(0, 10), d.weightDecay)
    .option('--max-grad-norm <x>', 'clip the global gradient norm to this (0: no clipping)', numberOption(0), d.maxGradNorm)
    .option('--linear-probe', 'train only the classification head on frozen features', d.linearProbe)
    .option('--dropout <p>', 'dropout while training', numberOption(0, 0.99), d.dropout)
    .option('--eval-every <n>', 'evaluate on the held-out split every n steps (0: at the end only)', integerOption(0), d.evalEvery)
    .addOption(new Option('--early-stopping <mode>', "'best': keep the weights that score best on the held-out split").choices(['none', 'best']).default(d.earlyStopping))
    .option('--held-out-frac <x>', 'fraction of each training split held out, labelled by its supervisor, for early stopping', numberOption(0, 0.9), 0)
    .option('--alpha-max <x>', 'logconf: the final weight of the hardened student predictions', numberOption(0, 1), l.logconf.alphaMax)
    .option('--warmup-frac <x>', "logconf: fraction of training over which α ramps from 0 to alpha-max", numberOption(0, 1), l.logconf.warmupFrac)
    .addOption(new Option('--logconf-schedule <kind>', "logconf: 'linear' ramp (the paper) or the reference code's 'jump'").choices(['linear', 'jump']).default(l.logconf.schedule))
    .option('--product-alpha <x>', 'product: exponent of the weak labels', numberOption(0, 100), l.product.alpha)
    .option('--product-beta <x>', "product: exponent of the student's predictions", numberOption(0, 100), l.product.beta);
}

export function trainSettingsFrom(flags: TrainingFlags): TrainSettings {
  if (flags.earlyStopping === 'best' && (flags.heldOutFrac === 0 || flags.evalEvery === 0))
    throw new InvalidArgumentError('--early-stopping best needs --held-out-frac > 0 (the split it scores on) and --eval-every > 0 (how often)');
  return {
    ...DEFAULT_TRAIN_SETTINGS,
    epochs: flags.epochs,
    batchSize: flags.batchSize,
    minibatchSize: Math.min(flags.minibatchSize, flags.batchSize),
    lr: flags.lr,
    lrSchedule: flags.lrSchedule,
    weightDecay: flags.weightDecay,
    maxGradNorm: flags.maxGradNorm,
    linearProbe: flags.linearProbe,
    dropout: flags.dropout,
    evalEvery: flags.evalEvery,
    earlyStopping: flags.earlyStopping,
  };
}

export function lossOptionsFrom(flags: TrainingFlags): LossOptions {
  return {
    logconf: { alphaMax: flags.alphaMax, warmupFrac: flags.warmupFrac, schedule: flags.logconfSchedule },
    product: { alpha: flags.productAlpha, beta: flags.productBeta },
  };
}
